//! Streaming mode through the C ABI when an activation overflows: the push fails with
//! `ESP_FAIL`, the session restarts from an empty window and the frame counter restarts
//! with it.

use aether_model::{HeadParams, HeadSpec, TensorDtype};
use ruv_temporal::status::{ESP_FAIL, ESP_OK};
use ruv_temporal::*;

fn info(ctx: *mut ruv_temporal_ctx_t) -> ruv_temporal_info_t {
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut out: ruv_temporal_info_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid context and output.
    assert_eq!(unsafe { ruv_temporal_info(ctx, &mut out) }, ESP_OK);
    out
}

#[test]
fn overflowing_frame_restarts_the_session_and_its_counter() {
    let model = HeadParams::random(&HeadSpec::default_v2(), 5)
        .unwrap()
        .to_rvne_v2(TensorDtype::F32)
        .unwrap();
    let mut ctx = std::ptr::null_mut();
    // SAFETY: valid buffers.
    let err =
        unsafe { ruv_temporal_init_streaming(model.as_ptr(), model.len(), 16, 32, 4, &mut ctx) };
    assert_eq!(err, ESP_OK);
    let normal: Vec<f32> = (0..16).map(|j| (j as f32 - 8.0) * 0.1).collect();
    for _ in 0..5 {
        // SAFETY: valid context and 16 floats.
        assert_eq!(unsafe { ruv_temporal_push(ctx, normal.as_ptr()) }, ESP_OK);
    }
    let before = info(ctx);
    assert_eq!((before.frames_pushed, before.frames_in_window), (5, 5));

    // Finite, so accepted by the input check, but the first projection overflows.
    let huge = [f32::MAX; 16];
    // SAFETY: as above.
    assert_eq!(unsafe { ruv_temporal_push(ctx, huge.as_ptr()) }, ESP_FAIL);
    let after = info(ctx);
    assert_eq!(
        (after.frames_pushed, after.frames_in_window),
        (0, 0),
        "the session restarted, so both counts restart"
    );

    // SAFETY: as above.
    assert_eq!(unsafe { ruv_temporal_push(ctx, normal.as_ptr()) }, ESP_OK);
    let again = info(ctx);
    assert_eq!((again.frames_pushed, again.frames_in_window), (1, 1));
    let mut logits = [0.0f32; 4];
    // SAFETY: valid context and 4 floats.
    assert_eq!(
        unsafe { ruv_temporal_classify(ctx, logits.as_mut_ptr(), 4) },
        ESP_OK
    );
    assert!(logits.iter().all(|v| v.is_finite()));
    // SAFETY: from init, destroyed once.
    unsafe { ruv_temporal_destroy(ctx) };
}
