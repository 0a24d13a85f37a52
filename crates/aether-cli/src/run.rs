//! `aether run --model M (--input FILE | --listen ADDR) [--fuse] [--json] [--emit ADDR]`:
//! streams frames through the head (aether-model), one decision per hop per node over the
//! node's last training window, from a recording or live from ESP32 nodes over UDP; with
//! `--fuse` each decision averages the nodes' latest ones.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;

use aether_csi::{ClassificationPacket, ClassificationRepr, FeatureSet, CLASSIFICATION_LEN};
use aether_io::live::{DatagramDecoder, Received, Receiver};
use aether_io::record::Record;
use aether_model::{HeadScratch, OutputKind, TemporalHead};
use aether_train::data::NodeFeatures;
use aether_train::model::load_rvne_v2;
use anyhow::Context;
use serde_json::json;

use crate::record::{duration_arg, stop_on_ctrl_c};
use crate::train::DataArgs;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "listen"])))]
pub struct Args {
    /// RVNE v2 model.
    #[arg(long)]
    model: PathBuf,
    /// A recording (any supported format).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Listen for the 0xC51100xx packet family on this UDP address (e.g. 0.0.0.0:5005) and
    /// decide live from raw and compressed CSI frames; Ctrl-C, --duration or --max-packets stop.
    #[arg(long)]
    listen: Option<String>,
    /// With --listen: stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// With --listen: stop after this many datagrams, valid or not.
    #[arg(long)]
    max_packets: Option<u64>,
    #[command(flatten)]
    data_args: DataArgs,
    /// Frames between decisions (default: the model's training hop).
    #[arg(long)]
    hop: Option<usize>,
    /// Also send each decision as a 0xC5110007 packet to this UDP address.
    #[arg(long)]
    emit: Option<String>,
    /// Decide with every node heard (one room per recording or listener): each decision's class
    /// probabilities are averaged with each other node's latest decision, if at most 1.5 of
    /// its hops older (`eval` scores the same rule as `fused`). The line names the nodes in
    /// `fused_nodes`; `--emit` sends the fused decision, its logits the log of the mean
    /// probabilities.
    #[arg(long)]
    fuse: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

struct Decision {
    t_s: f64,
    node_id: u8,
    /// The node's segment (unbroken run of frames) the window belongs to.
    segment: u64,
    logits: Vec<f32>,
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// Every node's decisions so far, for `--fuse`.
struct Fusion {
    nodes: BTreeMap<u8, NodeDecisions>,
    /// One hop in seconds at the model's frame rate: a node's hop at its first decision of a
    /// segment.
    first_hop_s: f64,
    /// Keep only each node's latest decision (live: nothing older is ever used).
    live: bool,
}

/// One node's decisions, in time order (live: the latest only): time, the node's hop then
/// (its mean interval between decisions so far in the segment), class probabilities.
#[derive(Default)]
struct NodeDecisions {
    history: Vec<(f64, f64, Vec<f32>)>,
    /// The current segment, the time of its first decision and decisions since.
    segment: Option<(u64, f64, usize)>,
}

impl Fusion {
    fn record(&mut self, d: &Decision, probs: Vec<f32>) {
        let n = self.nodes.entry(d.node_id).or_default();
        let hop_s = match &mut n.segment {
            Some((segment, first, since)) if *segment == d.segment => {
                *since += 1;
                (d.t_s - *first) / *since as f64
            }
            _ => {
                n.segment = Some((d.segment, d.t_s, 0));
                self.first_hop_s
            }
        };
        if self.live {
            n.history.clear();
        }
        n.history.push((d.t_s, hop_s, probs));
    }

    /// `own` (node `node_id`'s probabilities at `t_s`) averaged with every other node's latest
    /// decision at or before `t_s` that is at most `FUSE_MAX_AGE_HOPS` of that node's hops
    /// older (`eval`'s `fused` rule); the nodes that took part, in id order.
    fn fuse(&self, node_id: u8, t_s: f64, own: &[f32]) -> (Vec<f32>, Vec<u8>) {
        let mut sum = own.to_vec();
        let mut nodes = vec![node_id];
        for (&id, n) in &self.nodes {
            if id == node_id {
                continue;
            }
            let k = n.history.partition_point(|(t, _, _)| *t <= t_s);
            let Some((t, hop_s, probs)) = k.checked_sub(1).map(|i| &n.history[i]) else {
                continue;
            };
            if t_s - t <= aether_train::eval::FUSE_MAX_AGE_HOPS * hop_s {
                for (s, p) in sum.iter_mut().zip(probs) {
                    *s += p;
                }
                nodes.push(id);
            }
        }
        let n = nodes.len() as f32;
        sum.iter_mut().for_each(|s| *s /= n);
        nodes.sort_unstable();
        (sum, nodes)
    }
}

/// One node's frames: the last `window` of them in a ring, a frame count, and the segment
/// (unbroken run, `NodeFeatures::segment`) they belong to.
struct NodeRun {
    ring: Vec<f32>,
    frames: usize,
    segment: u64,
}

/// The model and what turns frames into decisions.
struct Runner<'h> {
    head: &'h TemporalHead,
    window: usize,
    hop: usize,
    /// Features per frame the head reads (the prefix of each frame's features).
    dims: usize,
    logits: Vec<f32>,
    /// The window in time order, assembled from a node's ring for each decision.
    ordered: Vec<f32>,
    scratch: HeadScratch,
    /// Decisions skipped because the model overflowed on a window (counted, never fatal).
    skipped: u64,
}

impl Runner<'_> {
    fn node(&self) -> NodeRun {
        NodeRun {
            ring: vec![0f32; self.window * self.dims],
            frames: 0,
            segment: 0,
        }
    }

    /// Pushes one frame; a decision when a hop completes. Each decision classifies exactly
    /// the last `window` frames, as `eval` scores windows and the device's window mode
    /// classifies its ring (a streaming session would carry each frame's states from the
    /// history it arrived with, which no trained window saw). A calibrated file's node
    /// reference (`calib.*`) is applied inside `TemporalHead`. A frame of a new `segment`
    /// (after a gap) empties the ring: as in training, no window spans a gap.
    fn push(
        &mut self,
        node: &mut NodeRun,
        node_id: u8,
        segment: u64,
        t_s: f64,
        f: &[f32],
    ) -> Option<Decision> {
        if segment != node.segment {
            node.segment = segment;
            node.frames = 0;
        }
        let slot = node.frames % self.window;
        node.ring[slot * self.dims..(slot + 1) * self.dims].copy_from_slice(&f[..self.dims]);
        node.frames += 1;
        let n = node.frames;
        if n < self.window || !(n - self.window).is_multiple_of(self.hop) {
            return None;
        }
        // Oldest first: the ring's next slot holds the oldest frame.
        let split = (n % self.window) * self.dims;
        self.ordered.clear();
        self.ordered.extend_from_slice(&node.ring[split..]);
        self.ordered.extend_from_slice(&node.ring[..split]);
        match self
            .head
            .classify(&self.ordered, &mut self.logits, &mut self.scratch)
        {
            Ok(()) => Some(Decision {
                t_s,
                node_id,
                segment,
                logits: self.logits.clone(),
            }),
            Err(e) => {
                // One node's overflowing window ends neither its stream nor the others'. The
                // first few are named; the count is in the summary.
                self.skipped += 1;
                if self.skipped <= 3 {
                    eprintln!("note: node {node_id} at {t_s:.3} s: no decision ({e})");
                }
                None
            }
        }
    }
}

/// Prints decisions (and emits them as 0xC5110007 packets).
struct Output<'c> {
    classes: &'c [String],
    json: bool,
    socket: Option<UdpSocket>,
    /// The last sequence number per node: the spec's `seq` counts one device's packets from 1,
    /// so a receiver checks each node's sequence for loss.
    seq: BTreeMap<u8, u32>,
    /// Decisions emitted (all nodes).
    emitted: u64,
    /// Packets `--emit` could not deliver (nobody listening, network down).
    undelivered: u64,
    /// `--fuse`: the decisions nodes have made.
    fusion: Option<Fusion>,
    stdout: std::io::StdoutLock<'static>,
}

impl Output<'_> {
    /// `false` once stdout is closed (`| head`): the caller ends quietly.
    fn decision(&mut self, d: &Decision) -> anyhow::Result<bool> {
        let seq = self.seq.entry(d.node_id).or_insert(0);
        *seq = seq.wrapping_add(1);
        let seq = *seq;
        self.emitted += 1;
        let own = softmax(&d.logits);
        let (probs, fused_nodes, logits) = match &mut self.fusion {
            Some(f) => {
                // In live use the decision is recorded before it is fused, so each node's own
                // history stays complete; `run_file` records every decision first.
                if f.live {
                    f.record(d, own.clone());
                }
                let (p, nodes) = f.fuse(d.node_id, d.t_s, &own);
                // The packet's logits: log-probabilities of the fused decision.
                let logits: Vec<f32> = p.iter().map(|x| x.max(f32::MIN_POSITIVE).ln()).collect();
                (p, Some(nodes), logits)
            }
            None => (own, None, d.logits.clone()),
        };
        let best = ClassificationRepr::from_logits(d.node_id, (d.t_s * 1e6) as u64, seq, &logits)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let name = |i: usize| {
            self.classes
                .get(i)
                .cloned()
                .unwrap_or_else(|| i.to_string())
        };
        let class = name(usize::from(best.argmax));
        let line = if self.json {
            let p: serde_json::Map<String, serde_json::Value> = probs
                .iter()
                .enumerate()
                .map(|(i, p)| (name(i), json!(p)))
                .collect();
            let mut v = json!({"t_s": d.t_s, "node_id": d.node_id, "class": class, "probs": p, "margin": best.margin});
            if let Some(nodes) = &fused_nodes {
                v["fused_nodes"] = json!(nodes);
            }
            v.to_string()
        } else {
            // Every class's probability, in the model's class order.
            let all: Vec<String> = probs
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{}={p:.3}", name(i)))
                .collect();
            let fused = match &fused_nodes {
                Some(nodes) => {
                    let ids: Vec<String> = nodes.iter().map(u8::to_string).collect();
                    format!("  (fused nodes {})", ids.join("+"))
                }
                None => String::new(),
            };
            format!(
                "{:>9.3} s  node {:>3}  {:<12} {}{fused}",
                d.t_s,
                d.node_id,
                class,
                all.join(" ")
            )
        };
        if writeln!(self.stdout, "{line}")
            .and_then(|_| self.stdout.flush())
            .is_err()
        {
            return Ok(false);
        }
        if let Some(sock) = &self.socket {
            let mut buf = [0u8; CLASSIFICATION_LEN];
            best.emit(&mut ClassificationPacket::new_unchecked(&mut buf[..]));
            if let Err(e) = sock.send(&buf) {
                // A receiver that is down (ICMP port unreachable comes back as refused on a
                // connected socket) or a network that is away must not end a live service:
                // the decisions go on, the packets are counted as undelivered.
                use std::io::ErrorKind::*;
                if !matches!(
                    e.kind(),
                    ConnectionRefused
                        | HostUnreachable
                        | NetworkUnreachable
                        | NetworkDown
                        | WouldBlock
                        | Interrupted
                ) {
                    return Err(anyhow::Error::new(e).context("sending a 0xC5110007 packet"));
                }
                if self.undelivered == 0 {
                    eprintln!("--emit: {e}; decisions go on, packets are dropped while it lasts");
                }
                self.undelivered += 1;
            }
        }
        Ok(true)
    }
}

/// Where `--emit` sends, of the addresses its name resolves to: a name with both families
/// (localhost, often `::1` first) goes to IPv4, where a receiver bound to 0.0.0.0 (as
/// `aether record` is) listens; an IPv6-only name or literal goes to IPv6.
fn emit_target(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.listen.is_none() && (args.duration.is_some() || args.max_packets.is_some()) {
        anyhow::bail!("--duration and --max-packets go with --listen");
    }
    if args.hop == Some(0) {
        anyhow::bail!("--hop must be at least 1 frame");
    }
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let info = load_rvne_v2(&bytes).with_context(|| args.model.display().to_string())?;
    let hop = args.hop.unwrap_or(info.meta.hop);
    let mut head = TemporalHead::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    // A dense A/B head runs with the attention it was trained with (the device runs sparse).
    if info.meta.trained_attention == aether_train::model::AttnBackend::Dense {
        head = head.with_backend(aether_model::Backend::Dense);
    }
    // Trained on node-referenced frames: raw frames are not what it learned (the device
    // library refuses such a file too).
    if info.meta.needs_reference && info.meta.calib.is_none() {
        anyhow::bail!(
            "{} was trained on node-referenced frames (--reference) and holds no node \
             reference: run `aether calibrate --model {} --data EMPTY_ROOM_CAPTURE --out M2` \
             first",
            args.model.display(),
            args.model.display()
        );
    }
    if head.spec().output_kind == OutputKind::Embedding {
        anyhow::bail!(
            "{} is an embedding head ({} dimensions, `train --task embed`); run prints class \
             decisions: fine-tune a classifier from it with `train --init`",
            args.model.display(),
            head.spec().n_out
        );
    }
    let Some(dims) = FeatureSet::csi_width(head.spec().feature_set, head.spec().input_dim) else {
        anyhow::bail!(
            "{}: the head takes {} features per frame of feature set {}; run feeds CSI feature \
             set 1 (16), 3 (19) or 4 (22)",
            args.model.display(),
            head.spec().input_dim,
            head.spec().feature_set
        );
    };
    let window = aether_train::eval::require_window(info.meta.window_len)
        .with_context(|| args.model.display().to_string())?;
    let mut runner = Runner {
        head: &head,
        window,
        hop,
        dims,
        logits: vec![0f32; info.cfg.n_out],
        ordered: Vec::with_capacity(window * dims),
        scratch: HeadScratch::for_head(&head, window)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?,
        skipped: 0,
    };
    let socket = match &args.emit {
        Some(addr) => {
            let addrs: Vec<SocketAddr> = addr
                .to_socket_addrs()
                .with_context(|| format!("--emit {addr}"))?
                .collect();
            let to = emit_target(&addrs)
                .with_context(|| format!("--emit {addr} resolves to no address"))?;
            // The socket's family follows the receiver's (an IPv4 socket cannot reach [::1]).
            let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let sock = UdpSocket::bind(bind).context("binding a UDP socket")?;
            sock.connect(to).with_context(|| format!("--emit {addr}"))?;
            Some(sock)
        }
        None => None,
    };
    let mut out = Output {
        classes: &info.meta.class_names,
        json: args.json,
        socket,
        seq: BTreeMap::new(),
        emitted: 0,
        undelivered: 0,
        fusion: args.fuse.then(|| Fusion {
            nodes: BTreeMap::new(),
            first_hop_s: if info.meta.frame_rate_hz > 0.0 {
                hop as f64 / f64::from(info.meta.frame_rate_hz)
            } else {
                0.0
            },
            live: args.listen.is_some(),
        }),
        stdout: std::io::stdout().lock(),
    };
    let result = match (&args.input, &args.listen) {
        (Some(input), _) => run_file(&args, input, &mut runner, &mut out),
        (None, Some(addr)) => run_live(&args, addr, &mut runner, &mut out),
        (None, None) => anyhow::bail!("give --input FILE or --listen ADDR"),
    };
    if out.undelivered > 0 {
        eprintln!(
            "--emit: {} of {} packets were not delivered",
            out.undelivered, out.emitted
        );
    }
    result
}

/// A recording: every node's frames through its own ring, decisions in time order.
fn run_file(
    args: &Args,
    input: &std::path::Path,
    runner: &mut Runner<'_>,
    out: &mut Output<'_>,
) -> anyhow::Result<()> {
    if input.is_dir() {
        // Decisions of several recordings would interleave on one time axis with nothing
        // saying which file each came from.
        anyhow::bail!(
            "--input {} is a folder; run streams one recording (train and eval take folders)",
            input.display()
        );
    }
    let streams = args.data_args.load(&[input.to_path_buf()])?;
    let mut decisions = Vec::new();
    for s in &streams {
        let mut node = runner.node();
        for ((f, &t), &segment) in s.features.iter().zip(&s.t_s).zip(&s.segments) {
            if let Some(d) = runner.push(&mut node, s.node_id, segment, t, f) {
                decisions.push(d);
            }
        }
    }
    decisions.sort_by(|a, b| a.t_s.total_cmp(&b.t_s).then(a.node_id.cmp(&b.node_id)));
    if runner.skipped > 0 && !decisions.is_empty() {
        eprintln!(
            "note: {} window(s) overflowed the model and gave no decision",
            runner.skipped
        );
    }
    if decisions.is_empty() && runner.skipped > 0 {
        anyhow::bail!(
            "{}: every window ({}) overflowed the model, no decision",
            input.display(),
            runner.skipped
        );
    }
    if decisions.is_empty() {
        anyhow::bail!(
            "{}: fewer than {} frames, no decision",
            input.display(),
            runner.window
        );
    }
    if let Some(f) = &mut out.fusion {
        // Every node's decisions first: one at the same instant as another node's counts for
        // it whichever is printed first, as `eval` scores `fused`.
        for d in &decisions {
            f.record(d, softmax(&d.logits));
        }
    }
    for d in &decisions {
        if !out.decision(d)? {
            break;
        }
    }
    Ok(())
}

/// Live: datagrams from any number of nodes, one extractor and frame ring per node, a decision
/// printed as soon as a node completes a hop. Bad datagrams are counted, never fatal.
fn run_live(
    args: &Args,
    addr: &str,
    runner: &mut Runner<'_>,
    out: &mut Output<'_>,
) -> anyhow::Result<()> {
    let socket = UdpSocket::bind(addr).with_context(|| format!("binding {addr}"))?;
    let stop = stop_on_ctrl_c()?;
    let duration = duration_arg(args.duration)?;
    // Ctrl-C and --duration still decide on the datagrams queued before them.
    let mut receiver = Receiver::new(&socket, &stop, duration, args.max_packets)?;
    // On stderr, so `--json` output stays clean; scripts can read the bound address here.
    eprintln!("listening on {}", socket.local_addr()?);
    let mut decoder = DatagramDecoder::new();
    let mut nodes: BTreeMap<u8, (NodeFeatures, NodeRun)> = BTreeMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut features = [0f32; aether_train::data::FRAME_DIMS];
    let (mut malformed, mut frames, mut decisions) = (0u64, 0u64, 0u64);
    let started = receiver.started();
    loop {
        let n = match receiver.next(&mut buf).context("receiving")? {
            Received::Datagram(n) => n,
            Received::Quiet => continue,
            Received::Ended => break,
        };
        let t_s = started.elapsed().as_secs_f64();
        let frame = match decoder.decode(t_s, &buf[..n]) {
            Ok(Record::Csi(frame)) => frame,
            Ok(_) => continue,
            Err(_) => {
                malformed += 1;
                continue;
            }
        };
        frames += 1;
        let (fx, node) = match nodes.entry(frame.node_id) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert((
                NodeFeatures::new(args.data_args.first_word_invalid),
                runner.node(),
            )),
        };
        if !fx.push(t_s, &frame, &mut features) {
            continue;
        }
        if let Some(d) = runner.push(node, frame.node_id, fx.segment(), t_s, &features) {
            decisions += 1;
            if !out.decision(&d)? {
                break;
            }
        }
    }
    eprintln!(
        "{} datagrams ({malformed} malformed), {frames} CSI frames from {} node(s), \
         {decisions} decisions ({} windows overflowed the model) in {:.1} s",
        receiver.received(),
        nodes.len(),
        runner.skipped,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::emit_target;

    #[test]
    fn emit_prefers_ipv4_when_a_name_has_both() {
        let v6 = "[::1]:5005".parse().unwrap();
        let v4 = "127.0.0.1:5005".parse().unwrap();
        assert_eq!(emit_target(&[v6, v4]), Some(v4));
        assert_eq!(emit_target(&[v6]), Some(v6));
        assert_eq!(emit_target(&[]), None);
    }
}
