//! The one stream type every reader yields and every writer takes.

/// Packet magics of the RuView UDP family (ruview-pr516.md §4.1), little-endian on the wire.
pub mod magic {
    /// ADR-018 raw CSI frame.
    pub const RAW_CSI: u32 = 0xC511_0001;
    /// Edge vitals (32 bytes).
    pub const VITALS: u32 = 0xC511_0002;
    /// Feature vector (48 bytes).
    pub const FEATURE: u32 = 0xC511_0003;
    /// Fused vitals / WASM output (colliding magic).
    pub const FUSED_VITALS: u32 = 0xC511_0004;
    /// Compressed CSI (XOR delta + RLE).
    pub const COMPRESSED_CSI: u32 = 0xC511_0005;
    /// `rv_feature_state_t` (60 bytes).
    pub const FEATURE_STATE: u32 = 0xC511_0006;
    /// Temporal classification (40 bytes).
    pub const CLASSIFICATION: u32 = 0xC511_0007;
}

/// One complex CSI value as the ESP32 reports it: two signed bytes.
///
/// On the wire and in every file format the pair is stored imaginary first, then real
/// (ESP-IDF "Wi-Fi Channel State Information": "each item is stored as two bytes: imaginary
/// part followed by real part"); [`Iq::from_esp_bytes`] and [`Iq::to_esp_bytes`] are the only
/// places that know this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Iq {
    /// In-phase (real) part.
    pub re: i8,
    /// Quadrature (imaginary) part.
    pub im: i8,
}

impl Iq {
    /// Builds a value from its real and imaginary parts.
    pub const fn new(re: i8, im: i8) -> Self {
        Iq { re, im }
    }

    /// Decodes one ESP-IDF pair `[imag, real]`.
    pub const fn from_esp_bytes(pair: [u8; 2]) -> Self {
        Iq {
            re: pair[1] as i8,
            im: pair[0] as i8,
        }
    }

    /// Encodes as the ESP-IDF pair `[imag, real]`.
    pub const fn to_esp_bytes(self) -> [u8; 2] {
        [self.im as u8, self.re as u8]
    }

    /// True for the all-zero value the ESP32 reports on null and guard subcarriers.
    pub const fn is_zero(self) -> bool {
        self.re == 0 && self.im == 0
    }

    /// |value|^2 as f32.
    pub fn power(self) -> f32 {
        let (r, i) = (self.re as f32, self.im as f32);
        r * r + i * i
    }
}

/// Decodes an ESP-IDF CSI byte buffer (`[imag, real]` pairs) into `out`. A trailing odd
/// byte is ignored; callers validate lengths before.
pub fn iq_from_esp_buffer(buf: &[u8], out: &mut Vec<Iq>) {
    out.clear();
    out.extend(
        buf.chunks_exact(2)
            .map(|p| Iq::from_esp_bytes([p[0], p[1]])),
    );
}

/// Encodes values as an ESP-IDF CSI byte buffer, appending to `out`.
pub fn iq_to_esp_buffer(values: &[Iq], out: &mut Vec<u8>) {
    out.reserve(values.len() * 2);
    for v in values {
        out.extend_from_slice(&v.to_esp_bytes());
    }
}

/// One CSI measurement from one node.
#[derive(Clone, Debug, PartialEq)]
pub struct CsiFrame {
    /// Seconds: Unix time for RuView recordings and live capture, seconds from the start of
    /// the capture for ESPectre, device time for the CSV formats.
    pub t_s: f64,
    /// Receiving node (0 where the format has no node id).
    pub node_id: u8,
    /// Sequence number where the source has one.
    pub seq: Option<u32>,
    /// RSSI in dBm as the source reports it. RuView's recorder writes a constant 1 on
    /// `raw_csi` lines; it is kept as is (see docs/recordings.md).
    pub rssi: Option<i8>,
    /// Noise floor in dBm.
    pub noise_floor: Option<i8>,
    /// Centre frequency in MHz.
    pub freq_mhz: Option<u32>,
    /// WiFi channel number.
    pub channel: Option<u8>,
    /// Transmitter MAC where the format names one (CSV formats).
    pub mac: Option<[u8; 6]>,
    /// Receive antennas; `subcarriers` holds `n_antennas` blocks of equal length.
    pub n_antennas: u8,
    /// Complex values in the order the ESP32 reports them, antenna-major.
    pub subcarriers: Vec<Iq>,
}

impl CsiFrame {
    /// A one-antenna frame with none of the optional header fields (sequence number, RSSI,
    /// noise floor, frequency, channel, MAC): set those with struct update syntax,
    /// `CsiFrame { rssi: Some(-40), ..CsiFrame::new(t_s, node, iq) }`.
    pub fn new(t_s: f64, node_id: u8, subcarriers: Vec<Iq>) -> Self {
        CsiFrame {
            t_s,
            node_id,
            seq: None,
            rssi: None,
            noise_floor: None,
            freq_mhz: None,
            channel: None,
            mac: None,
            n_antennas: 1,
            subcarriers,
        }
    }

    /// Subcarriers per antenna.
    pub fn n_subcarriers(&self) -> usize {
        self.subcarriers.len() / usize::from(self.n_antennas.max(1))
    }
}

/// Edge vitals packet (0xC5110002).
#[derive(Clone, Debug, PartialEq)]
pub struct Vitals {
    pub t_s: f64,
    pub node_id: u8,
    pub rssi: i8,
    /// bit0 presence, bit1 fall, bit2 motion.
    pub flags: u8,
    pub breathing_bpm: f64,
    pub heartrate_bpm: f64,
    pub n_persons: u8,
    pub motion_energy: f64,
    pub presence_score: f64,
    /// Device time of the packet (absent in RuView recordings).
    pub device_ms: Option<u32>,
}

/// Feature vector packet (0xC5110003).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureVector {
    pub t_s: f64,
    pub node_id: u8,
    /// Not carried by the packet; RuView's recorder derives it from `features[7]`
    /// (`trunc(f7 * 100 - 100)`), and so does ours.
    pub rssi: i8,
    pub seq: u16,
    pub features: [f64; 8],
    /// Device time of the packet (absent in RuView recordings).
    pub device_us: Option<i64>,
}

/// `rv_feature_state_t` packet (0xC5110006).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureState {
    pub t_s: f64,
    pub node_id: u8,
    pub mode: u8,
    pub seq: u16,
    pub device_us: u64,
    pub motion_score: f64,
    pub presence_score: f64,
    pub respiration_bpm: f64,
    pub respiration_conf: f64,
    pub heartbeat_bpm: f64,
    pub heartbeat_conf: f64,
    pub anomaly_score: f64,
    pub env_shift_score: f64,
    pub node_coherence: f64,
    pub quality_flags: u16,
}

/// Temporal classification packet (0xC5110007).
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub t_s: f64,
    pub node_id: u8,
    pub version: u16,
    pub n_classes: u16,
    pub device_us: u64,
    pub seq: u32,
    pub argmax: u8,
    pub top_logit: f64,
    pub margin: f64,
}

/// A packet of the family kept only by its envelope (compressed CSI, fused vitals, or a
/// magic we do not decode).
#[derive(Clone, Debug, PartialEq)]
pub struct OtherPacket {
    pub t_s: f64,
    pub node_id: u8,
    pub magic: u32,
    /// Datagram size in bytes.
    pub size: u32,
    pub rssi: i8,
}

/// Everything a recording can hold, in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Csi(CsiFrame),
    Vitals(Vitals),
    Feature(FeatureVector),
    FeatureState(FeatureState),
    Classification(Classification),
    Other(OtherPacket),
}

impl Record {
    /// Timestamp in seconds (see [`CsiFrame::t_s`]).
    pub fn t_s(&self) -> f64 {
        match self {
            Record::Csi(r) => r.t_s,
            Record::Vitals(r) => r.t_s,
            Record::Feature(r) => r.t_s,
            Record::FeatureState(r) => r.t_s,
            Record::Classification(r) => r.t_s,
            Record::Other(r) => r.t_s,
        }
    }

    /// Node id.
    pub fn node_id(&self) -> u8 {
        match self {
            Record::Csi(r) => r.node_id,
            Record::Vitals(r) => r.node_id,
            Record::Feature(r) => r.node_id,
            Record::FeatureState(r) => r.node_id,
            Record::Classification(r) => r.node_id,
            Record::Other(r) => r.node_id,
        }
    }

    /// Packet magic this record came from (or would be sent as).
    pub fn magic(&self) -> u32 {
        match self {
            Record::Csi(_) => magic::RAW_CSI,
            Record::Vitals(_) => magic::VITALS,
            Record::Feature(_) => magic::FEATURE,
            Record::FeatureState(_) => magic::FEATURE_STATE,
            Record::Classification(_) => magic::CLASSIFICATION,
            Record::Other(r) => r.magic,
        }
    }

    /// The name used in the JSONL `type` field and in summaries; for untyped packets the
    /// magic as `0xC5110005`.
    pub fn type_name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Record::Csi(_) => "raw_csi".into(),
            Record::Vitals(_) => "vitals".into(),
            Record::Feature(_) => "feature".into(),
            Record::FeatureState(_) => "feature_state".into(),
            Record::Classification(_) => "classification".into(),
            Record::Other(r) => format!("0x{:08X}", r.magic).into(),
        }
    }

    /// The CSI frame, if this is one.
    pub fn as_csi(&self) -> Option<&CsiFrame> {
        match self {
            Record::Csi(f) => Some(f),
            _ => None,
        }
    }
}
