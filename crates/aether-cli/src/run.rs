//! `aether run --model M --input FILE [--json] [--emit ADDR]`: streams a recording's frames
//! through the head's streaming session (aether-model), one decision per hop per node.

use std::io::Write;
use std::net::UdpSocket;
use std::path::PathBuf;

use aether_csi::{ClassificationPacket, ClassificationRepr, CLASSIFICATION_LEN};
use aether_model::{TemporalHead, WindowMode};
use aether_train::model::load_rvne_v2;
use anyhow::Context;
use serde_json::json;

use crate::train::DataArgs;

#[derive(clap::Args)]
pub struct Args {
    /// RVNE v2 model.
    #[arg(long)]
    model: PathBuf,
    /// A recording (any supported format).
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    data_args: DataArgs,
    /// Frames between decisions (default: the model's training hop).
    #[arg(long)]
    hop: Option<usize>,
    /// Also send each decision as a 0xC5110007 packet to this UDP address.
    #[arg(long)]
    emit: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

struct Decision {
    t_s: f64,
    node_id: u8,
    logits: Vec<f32>,
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let info = load_rvne_v2(&bytes)?;
    let head = TemporalHead::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("loading {}: {e:?}", args.model.display()))?;
    let window = info.meta.window_len.max(1);
    let hop = args.hop.unwrap_or(info.meta.hop).max(1);
    let classes = &info.meta.class_names;
    let mut streams = args.data_args.load(std::slice::from_ref(&args.input))?;
    let mut decisions = Vec::new();
    let mut logits = vec![0f32; info.cfg.n_out];
    for s in &mut streams {
        // A node reference (`calib.*`) in the file is applied inside `TemporalHead`.
        let mut session = head
            .session(WindowMode::Sliding { len: window })
            .map_err(|e| anyhow::anyhow!("session: {e:?}"))?;
        for (i, (f, &t)) in s.features.iter().zip(&s.t_s).enumerate() {
            session
                .push(f)
                .map_err(|e| anyhow::anyhow!("frame {i}: {e:?}"))?;
            let n = i + 1;
            if n >= window && (n - window) % hop == 0 {
                session
                    .output(&mut logits)
                    .map_err(|e| anyhow::anyhow!("frame {i}: {e:?}"))?;
                decisions.push(Decision {
                    t_s: t,
                    node_id: s.node_id,
                    logits: logits.clone(),
                });
            }
        }
    }
    decisions.sort_by(|a, b| a.t_s.total_cmp(&b.t_s).then(a.node_id.cmp(&b.node_id)));
    let socket = match &args.emit {
        Some(addr) => {
            let sock = UdpSocket::bind("0.0.0.0:0").context("binding a UDP socket")?;
            sock.connect(addr)
                .with_context(|| format!("--emit {addr}"))?;
            Some(sock)
        }
        None => None,
    };
    let mut seq = 0u32;
    let mut stdout = std::io::stdout().lock();
    for d in &decisions {
        seq += 1;
        let probs = softmax(&d.logits);
        let best = ClassificationRepr::from_logits(d.node_id, (d.t_s * 1e6) as u64, seq, &d.logits)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let class = classes
            .get(usize::from(best.argmax))
            .cloned()
            .unwrap_or_else(|| format!("{}", best.argmax));
        let line = if args.json {
            let p: serde_json::Map<String, serde_json::Value> = probs
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        classes.get(i).cloned().unwrap_or_else(|| i.to_string()),
                        json!(p),
                    )
                })
                .collect();
            json!({"t_s": d.t_s, "node_id": d.node_id, "class": class, "probs": p, "margin": best.margin})
                .to_string()
        } else {
            format!(
                "{:>9.3} s  node {:>3}  {:<12} p={:.3}",
                d.t_s,
                d.node_id,
                class,
                probs[usize::from(best.argmax)]
            )
        };
        // A closed pipe (`| head`) ends the output quietly.
        if writeln!(stdout, "{line}").is_err() {
            return Ok(());
        }
        if let Some(sock) = &socket {
            let mut buf = [0u8; CLASSIFICATION_LEN];
            best.emit(&mut ClassificationPacket::new_unchecked(&mut buf[..]));
            sock.send(&buf).context("sending a 0xC5110007 packet")?;
        }
    }
    if decisions.is_empty() {
        anyhow::bail!(
            "{}: fewer than {window} frames, no decision",
            args.input.display()
        );
    }
    Ok(())
}
