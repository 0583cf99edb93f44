//! The abuse scenario: people chat in small rooms, each from a network of their own, while one attacker floods
//! the server from one address at full speed: sends, room creation, GIF uploads and fresh identities. The rate
//! limits are on (the defaults). Reported: the people's latency without and with the attacker (the target is a
//! p99 within twice the quiet one), anything of theirs refused or lost, and what became of the attacker's
//! requests.
//!
//! A real attacker brings their own machine. On one machine the attacker's CPU would otherwise be taken from
//! the server and from the tool that times the people, and the figure would measure that instead. So, given two
//! cores or more, the server gets core 0 to itself; the people's side of the tool and the attacker share the
//! others, and the attacker is a separate process at the lowest priority: it gets every cycle the people's
//! timing does not need, and cannot delay that timing.
//!
//! (Over 400 lines: the scenario and the attacker process it starts, which runs this file's own code.)

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::Options;
use crate::client::{Visitor, chat_message};
use crate::process::{ServerProcess, pin_children_to, pin_this_process_to};
use crate::scenarios::noise_gif;
use crate::stats::{Latencies, Percentiles};
use crate::toolkit::{many, now_us, seat, sent_at};

#[derive(Debug, Serialize)]
pub struct Abuse {
    pub rooms: usize,
    pub people_per_room: usize,
    pub seconds_per_phase: f64,
    pub quiet: Phase,
    pub attacked: Phase,
    /// The attacked p99 over the quiet one.
    pub p99_ratio: f64,
    pub attacker: Attack,
}

/// The people's side of one phase.
#[derive(Debug, Serialize)]
pub struct Phase {
    pub acknowledged: usize,
    /// People's sends the server refused (it must refuse none).
    pub refused: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub latency: Percentiles,
    /// The share of the machine's CPU time the hypervisor took during the phase (0 on bare metal).
    pub cpu_steal_percent: f64,
}

/// What became of the attacker's requests.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Attack {
    pub requests: u64,
    pub accepted: u64,
    pub throttled: u64,
    /// Other refusals (a full disk, an oversize request…) and failed requests.
    pub other: u64,
}

/// Person `n`'s address: each on a network of their own (127.1.x.y; the attacker is 127.0.0.66).
fn person_address(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8))
}

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66));

pub async fn abuse(options: &Options) -> anyhow::Result<Abuse> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = ServerProcess::gif_chat_limited(options, (cores > 1).then_some(0..1)).await?;
    let addr = server.addr;
    let ours = (cores > 1).then_some(1..cores);
    if let Some(ours) = ours.clone() {
        pin_this_process_to(ours)?;
    }
    let result = measure(addr, options.smoke, ours).await;
    if cores > 1 {
        pin_this_process_to(0..cores)?;
    }
    result
}

async fn measure(
    addr: std::net::SocketAddr,
    smoke: bool,
    cores: Option<std::ops::Range<usize>>,
) -> anyhow::Result<Abuse> {
    let (rooms, per_room, block) =
        if smoke { (2, 3, Duration::from_millis(1500)) } else { (10, 10, Duration::from_secs(5)) };
    let visitors = many(rooms * per_room, 16, |n| Visitor::arrive_from(person_address(n), addr)).await?;
    let (room_ids, lives) = seat(&visitors, per_room).await?;

    // Each receiver sorts what it gets by phase (carried in the body): sequence numbers and latencies.
    let patience = block * BLOCKS as u32 + Duration::from_secs(10);
    let receivers: Vec<_> = lives
        .into_iter()
        .map(|mut live| {
            tokio::spawn(async move {
                let mut got: [(Vec<i64>, Latencies); 2] = Default::default();
                let stop_at = Instant::now() + patience;
                while let Ok(Ok(Some(Ok(frame)))) =
                    tokio::time::timeout_at(stop_at.into(), tokio::time::timeout(Duration::from_secs(3), live.next()))
                        .await
                {
                    let Message::Text(text) = frame else { continue };
                    let Some(message) = chat_message(&text) else { continue };
                    let body = message["body"].as_str().unwrap_or_default();
                    let (Some(sent), Some(phase)) = (sent_at(body), phase_of(body)) else { continue };
                    got[phase].0.push(message["seq"].as_i64().unwrap_or(-1));
                    got[phase].1.0.push(now_us().saturating_sub(sent));
                }
                let _ = live.close(None).await;
                got
            })
        })
        .collect();

    // Quiet and attacked blocks take turns, so that whatever else the machine does meanwhile (on a virtual
    // machine: the hypervisor taking the CPU away, "steal") falls on both phases alike.
    // The attacker is started (and has arrived) before any block, so starting it costs no block anything.
    let mut attacker = Attacker::start(addr, cores).await?;
    let mut sent: [Sent; 2] = Default::default();
    let mut steal = [CpuTicks::default(); 2];
    for block_index in 0..BLOCKS {
        let phase = block_index % 2;
        let before = CpuTicks::now();
        attacker.tell(if phase == 1 { "attack" } else { "pause" }).await?;
        sent[phase].add(chat(&visitors, &room_ids, per_room, (phase, block_index), block).await?);
        steal[phase].add(CpuTicks::now().since(before));
    }
    let attack = attacker.finish().await?;

    let mut phases: [(usize, usize, Latencies); 2] = Default::default();
    for (n, receiver) in receivers.into_iter().enumerate() {
        let got = receiver.await?;
        let room = room_ids[n / per_room];
        for (phase, (seqs, latencies)) in got.into_iter().enumerate() {
            let unique: BTreeSet<i64> = seqs.iter().copied().collect();
            phases[phase].1 += seqs.len() - unique.len();
            let acked = sent[phase].acked.get(&room);
            phases[phase].0 += acked.map_or(0, |acked| acked.difference(&unique).count());
            phases[phase].2.extend(latencies);
        }
    }
    let [(quiet_missing, quiet_duplicated, quiet_latency), (attacked_missing, attacked_duplicated, attacked_latency)] =
        phases;
    let quiet = sent[0].phase(quiet_missing, quiet_duplicated, quiet_latency, steal[0]);
    let attacked = sent[1].phase(attacked_missing, attacked_duplicated, attacked_latency, steal[1]);
    Ok(Abuse {
        rooms,
        people_per_room: per_room,
        seconds_per_phase: (block * (BLOCKS / 2) as u32).as_secs_f64(),
        p99_ratio: attacked.latency.p99_ms / quiet.latency.p99_ms.max(1e-3),
        quiet,
        attacked,
        attacker: attack,
    })
}

/// Blocks of chat, quiet and attacked in turn.
const BLOCKS: usize = 8;

/// The machine's CPU time so far, from /proc/stat: all of it, and what the hypervisor took ("steal").
#[derive(Debug, Default, Clone, Copy)]
struct CpuTicks {
    total: u64,
    steal: u64,
}

impl CpuTicks {
    fn now() -> CpuTicks {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .map(|cpu| cpu.split_whitespace().skip(1).filter_map(|field| field.parse().ok()).collect())
            .unwrap_or_default();
        // user nice system idle iowait irq softirq steal guest guest_nice; guests are already in user and nice.
        CpuTicks { total: fields.iter().take(8).sum(), steal: fields.get(7).copied().unwrap_or(0) }
    }

    fn since(self, before: CpuTicks) -> CpuTicks {
        CpuTicks { total: self.total.saturating_sub(before.total), steal: self.steal.saturating_sub(before.steal) }
    }

    fn add(&mut self, other: CpuTicks) {
        self.total += other.total;
        self.steal += other.steal;
    }

    fn steal_percent(self) -> f64 {
        100.0 * self.steal as f64 / self.total.max(1) as f64
    }
}

/// The attacker: this tool in its hidden attacker mode (see [`attack`]), on `cores`. It floods while told
/// `attack`, waits while told `pause`, and reports when its input closes.
struct Attacker {
    child: tokio::process::Child,
    orders: tokio::process::ChildStdin,
}

impl Attacker {
    async fn start(addr: std::net::SocketAddr, cores: Option<std::ops::Range<usize>>) -> anyhow::Result<Attacker> {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .args(["--attacker", &addr.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(cores) = cores {
            pin_children_to(command.as_std_mut(), cores);
        }
        let mut child = command.spawn()?;
        let orders = child.stdin.take().context("the attacker's input")?;
        let mut answers = tokio::io::BufReader::new(child.stdout.as_mut().context("the attacker's output")?);
        let mut ready = String::new();
        answers.read_line(&mut ready).await?;
        anyhow::ensure!(ready.trim() == "ready", "the attacker did not start: {ready:?}");
        Ok(Attacker { child, orders })
    }

    async fn tell(&mut self, order: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.orders.write_all(format!("{order}\n").as_bytes()).await?;
        Ok(self.orders.flush().await?)
    }

    /// Stops the attacker and reads its report.
    async fn finish(self) -> anyhow::Result<Attack> {
        drop(self.orders);
        let output = self.child.wait_with_output().await?;
        let failed = String::from_utf8_lossy(&output.stderr);
        anyhow::ensure!(output.status.success(), "the attacker failed: {failed}");
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}

/// What the attacker's loops are told to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Orders {
    Pause,
    Attack,
    Stop,
}

/// The attacker process: at the lowest priority, arrives at the server at `addr`, says `ready`, then floods it
/// while its input says `attack` (until `pause`); when its input closes, prints what became of its requests
/// (JSON) on standard output.
pub async fn attack(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::io::Write;
    use tokio::io::AsyncBufReadExt;
    // SAFETY: setpriority changes only this process's scheduling priority.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } != 0 {
        anyhow::bail!("lowering the attacker's priority: {}", std::io::Error::last_os_error());
    }
    let attacker = Visitor::arrive_from(ATTACKER, addr).await?;
    // The people's rooms, from the public list (before its own).
    let listed = attacker.call("list_rooms", &[]).await?;
    let people_rooms: Vec<i64> = listed
        .as_array()
        .map(|rooms| rooms.iter().filter_map(|room| room["id"].as_i64()).collect())
        .unwrap_or_default();
    let room = attacker.create_room("spam", 100).await?;
    let _present = attacker.join(room).await?;
    let (orders, told) = tokio::sync::watch::channel(Orders::Pause);
    let counts = Arc::new(AttackCounts::default());
    let flooding = flood(attacker, room, Arc::new(people_rooms), told, counts.clone());
    println!("ready");
    std::io::stdout().flush()?;

    let mut input = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = input.next_line().await? {
        orders.send_replace(if line.trim() == "attack" { Orders::Attack } else { Orders::Pause });
    }
    orders.send_replace(Orders::Stop);
    for task in flooding {
        task.await?;
    }
    println!("{}", serde_json::to_string(&counts.snapshot())?);
    Ok(())
}

/// `t=…;p=<phase>;…` → the phase.
fn phase_of(body: &str) -> Option<usize> {
    body.split(';').find_map(|part| part.strip_prefix("p=")?.parse().ok())
}

/// What the people's senders did in one phase.
#[derive(Default)]
struct Sent {
    acked: HashMap<i64, BTreeSet<i64>>,
    refused: usize,
}

impl Sent {
    fn add(&mut self, other: Sent) {
        for (room, acked) in other.acked {
            self.acked.entry(room).or_default().extend(acked);
        }
        self.refused += other.refused;
    }

    fn phase(&self, missing: usize, duplicated: usize, latencies: Latencies, cpu: CpuTicks) -> Phase {
        Phase {
            acknowledged: self.acked.values().map(BTreeSet::len).sum(),
            refused: self.refused,
            missing,
            duplicated,
            latency: latencies.percentiles(),
            cpu_steal_percent: cpu.steal_percent(),
        }
    }
}

/// Everyone sends one message a second for `duration`, in `phase`'s block number `block`.
async fn chat(
    visitors: &[Visitor],
    room_ids: &[i64],
    per_room: usize,
    (phase, block): (usize, usize),
    duration: Duration,
) -> anyhow::Result<Sent> {
    let end = Instant::now() + duration;
    let senders: Vec<_> = visitors
        .iter()
        .enumerate()
        .map(|(n, visitor)| {
            let visitor = visitor.clone();
            let room = room_ids[n / per_room];
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros((n as u64 * 7919) % 1_000_000)).await;
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                let (mut acked, mut refused) = (Vec::new(), 0);
                for k in 0.. {
                    ticks.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    let body = format!("t={};p={phase};{n}", now_us());
                    match visitor.send(room, &body, &format!("c{block}-{n}-{k}")).await {
                        Ok(seq) => acked.push(seq),
                        Err(_) => refused += 1,
                    }
                }
                (room, acked, refused)
            })
        })
        .collect();
    let mut sent = Sent::default();
    for sender in senders {
        let (room, acked, refused) = sender.await?;
        sent.acked.entry(room).or_default().extend(acked);
        sent.refused += refused;
    }
    Ok(sent)
}

#[derive(Default)]
struct AttackCounts {
    requests: AtomicU64,
    accepted: AtomicU64,
    throttled: AtomicU64,
    other: AtomicU64,
}

impl AttackCounts {
    fn count(&self, status: Option<reqwest::StatusCode>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let bucket = match status {
            Some(status) if status.is_success() => &self.accepted,
            Some(reqwest::StatusCode::TOO_MANY_REQUESTS) => &self.throttled,
            _ => &self.other,
        };
        bucket.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain form's answer: a redirect to the message when it was sent, else one carrying the error.
    fn count_form(&self, answer: Option<reqwest::Response>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let header = |answer: &reqwest::Response, name| {
            answer
                .headers()
                .get_all(name)
                .iter()
                .map(|value| value.to_str().unwrap_or_default().to_owned())
                .collect::<String>()
        };
        let bucket = match answer {
            Some(answer) if header(&answer, reqwest::header::LOCATION).contains("#m") => &self.accepted,
            Some(answer) if header(&answer, reqwest::header::SET_COOKIE).contains("tooManyRequests") => &self.throttled,
            Some(answer) if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => &self.throttled,
            _ => &self.other,
        };
        bucket.fetch_add(1, Ordering::Relaxed);
    }

    /// A cookieless join, and its leaving (the connection closes when dropped).
    fn count_join(&self, joined: anyhow::Result<crate::client::Live>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let bucket = match joined {
            Ok(_) => &self.accepted,
            Err(error) if format!("{error:#}").contains("429") || format!("{error:#}").contains("1013") => {
                &self.throttled
            }
            Err(_) => &self.other,
        };
        bucket.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Attack {
        Attack {
            requests: self.requests.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// The attacker's loops, from one address, as fast as the answers come while told to attack: two of sends into
/// its own room, one of room creation, one of 256 KiB GIF uploads, one of fresh identities (a cookieless first
/// action each), one of cookieless live connections joining the people's rooms in turn and leaving (join churn:
/// each would be a new person announced to the room), and one of plain-form sends from 256 /64s of one IPv6
/// /56 in turn, each a fresh identity (a network of many addresses trying to take the whole server's allowance).
fn flood(
    attacker: Visitor,
    room: i64,
    people_rooms: Arc<Vec<i64>>,
    told: tokio::sync::watch::Receiver<Orders>,
    counts: Arc<AttackCounts>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let gif = noise_gif(256 * 1024, 0);
    (0..7)
        .map(|kind| {
            let (attacker, mut told, counts, gif) = (attacker.clone(), told.clone(), counts.clone(), gif.clone());
            let people_rooms = people_rooms.clone();
            tokio::spawn(async move {
                // A new identity each time: no cookie, so each first action would store a new session.
                let stranger = attacker.without_cookie();
                let room_arg = room.to_string();
                let mut n = 0u64;
                loop {
                    let order = *told.borrow_and_update();
                    match order {
                        Orders::Stop => return,
                        Orders::Attack => {}
                        Orders::Pause => {
                            if told.changed().await.is_err() {
                                return;
                            }
                            continue;
                        }
                    }
                    n += 1;
                    let answer = match kind {
                        0 | 1 => attacker.post("send_message", &[("room", &room_arg), ("body", "spam")]).await.ok(),
                        2 => {
                            let title = format!("spam {n}");
                            attacker.post("create_room", &[("title", &title), ("max_members", "5")]).await.ok()
                        }
                        3 => attacker.post_gif(room, gif.clone()).await.ok(),
                        4 => stranger.post("whoami", &[]).await.ok(),
                        5 => {
                            let target = people_rooms[n as usize % people_rooms.len().max(1)];
                            counts.count_join(stranger.join(target).await);
                            continue;
                        }
                        _ => {
                            let address = format!("2001:db8:0:12{:02x}::{:x}", n % 256, n % 65_535 + 1);
                            let args = [("room", room_arg.as_str()), ("body", "spam from a /56")];
                            counts.count_form(stranger.post_form_from(&address, "send_message", &args).await.ok());
                            continue;
                        }
                    };
                    counts.count(answer.map(|response| response.status()));
                }
            })
        })
        .collect()
}
