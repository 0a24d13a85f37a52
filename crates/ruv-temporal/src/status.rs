//! `esp_err_t` values (ESP-IDF `components/esp_common/include/esp_err.h`) and the mapping of
//! every library failure onto one of them.
//!
//! The seed mapped CRC failures to 0x10C (`ESP_ERR_NOT_FINISHED`) and shape failures to 0x103
//! (`ESP_ERR_INVALID_STATE`) while commenting them as INVALID_CRC / INVALID_SIZE (spec §3.4);
//! here the codes are the ones the comments meant.

use aether_kernel::KernelError;
use aether_model::ModelError;
use aether_rvne::{RvneError, RvneErrorKind};
use core::ffi::c_int;

/// ESP-IDF's `esp_err_t`: `typedef int esp_err_t;`.
#[allow(non_camel_case_types)]
pub type esp_err_t = c_int;

/// Success.
pub const ESP_OK: esp_err_t = 0;
/// Generic failure (the self-test's verdict).
pub const ESP_FAIL: esp_err_t = -1;
/// Out of memory.
pub const ESP_ERR_NO_MEM: esp_err_t = 0x101;
/// Invalid argument.
pub const ESP_ERR_INVALID_ARG: esp_err_t = 0x102;
/// Invalid state.
pub const ESP_ERR_INVALID_STATE: esp_err_t = 0x103;
/// Invalid size.
pub const ESP_ERR_INVALID_SIZE: esp_err_t = 0x104;
/// Requested resource not found.
pub const ESP_ERR_NOT_FOUND: esp_err_t = 0x105;
/// Operation or feature not supported.
pub const ESP_ERR_NOT_SUPPORTED: esp_err_t = 0x106;
/// Operation timed out.
pub const ESP_ERR_TIMEOUT: esp_err_t = 0x107;
/// Received response was invalid.
pub const ESP_ERR_INVALID_RESPONSE: esp_err_t = 0x108;
/// CRC or checksum was invalid.
pub const ESP_ERR_INVALID_CRC: esp_err_t = 0x109;
/// Version was invalid.
pub const ESP_ERR_INVALID_VERSION: esp_err_t = 0x10A;

/// The code for a model file that failed to parse.
pub fn file_error_code(e: &RvneError) -> esp_err_t {
    match e {
        RvneError::WrongVersion(_) => ESP_ERR_INVALID_VERSION,
        _ => match e.kind() {
            RvneErrorKind::Checksum => ESP_ERR_INVALID_CRC,
            RvneErrorKind::InvalidShape => ESP_ERR_INVALID_SIZE,
            // Malformed bytes and impossible requests both mean "this argument is wrong".
            _ => ESP_ERR_INVALID_ARG,
        },
    }
}

/// The code for any model failure (loading or running).
pub fn model_error_code(e: &ModelError) -> esp_err_t {
    match e {
        ModelError::File(f) => file_error_code(f),
        ModelError::MissingMeta(_)
        | ModelError::BadMeta { .. }
        | ModelError::MissingTensor(_)
        | ModelError::WrongDtype(_) => ESP_ERR_INVALID_ARG,
        ModelError::InvalidSpec(_) | ModelError::WrongShape(_) => ESP_ERR_INVALID_SIZE,
        ModelError::TooLarge { .. } => ESP_ERR_NO_MEM,
        ModelError::NonFiniteWeight(_) => ESP_ERR_INVALID_ARG,
        ModelError::InputLen { .. } | ModelError::OutputLen { .. } => ESP_ERR_INVALID_SIZE,
        ModelError::EmptyWindow => ESP_ERR_INVALID_STATE,
        ModelError::NonFiniteInput { .. } => ESP_ERR_INVALID_ARG,
        ModelError::NonFiniteActivation => ESP_FAIL,
        ModelError::WrongOutputKind | ModelError::Unsupported(_) => ESP_ERR_NOT_SUPPORTED,
        ModelError::Kernel(k) => kernel_error_code(k),
        _ => ESP_FAIL,
    }
}

fn kernel_error_code(e: &KernelError) -> esp_err_t {
    match e {
        KernelError::NonFinite { .. } | KernelError::OutOfRange { .. } => ESP_ERR_INVALID_ARG,
        KernelError::SizeOverflow => ESP_ERR_NO_MEM,
        KernelError::CacheFull { .. } => ESP_ERR_INVALID_STATE,
        _ => ESP_FAIL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_use_the_codes_the_seed_meant() {
        let crc = RvneError::CrcMismatch {
            stored: 1,
            computed: 2,
        };
        assert_eq!(file_error_code(&crc), 0x109);
        assert_eq!(file_error_code(&RvneError::ZeroDim), 0x104);
        assert_eq!(file_error_code(&RvneError::DegenerateShape), 0x104);
        assert_eq!(file_error_code(&RvneError::BadMagic), 0x102);
        assert_eq!(file_error_code(&RvneError::TooShort), 0x102);
        assert_eq!(file_error_code(&RvneError::WrongVersion(3)), 0x10A);
    }
}
