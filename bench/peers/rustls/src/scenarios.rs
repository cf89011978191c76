//! The scenarios of sanstls-bench's peer protocol: warm (set up, check,
//! size a repetition) and run (one timed repetition).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig, ServerName};

use crate::heap;
use crate::tls::{
    self, ClientSessions, CountingSessionStore, Credentials, HandshakeShape, Pair, Pattern,
    Protocol, Receiver,
};

/// What warm hands back: the work, its unit, and the operations per rep.
type Warmed = (Work, &'static str, u64);

/// rustls 0.20 does not report the negotiated key exchange group.
const GROUP: &str = "X25519 (the only group configured)";
const MIB: u64 = 1 << 20;

pub struct Options {
    pub dir: PathBuf,
    pub target_seconds: f64,
    pub quick: bool,
    pub wall_clock: bool,
}

/// What every scenario shares: the options, the bulk pattern, the buffer
/// that stands for the transport, and the server name.
pub struct Bench {
    pub options: Options,
    // Lives as long as the program; 'static lets a Receiver hold it while
    // the rest of Bench is borrowed mutably.
    pattern: &'static Pattern,
    wire: Vec<u8>,
    localhost: ServerName,
}

impl Bench {
    pub fn new(options: Options) -> Self {
        Bench {
            options,
            pattern: Box::leak(Box::new(Pattern::new())),
            // Room for the largest flight, so the buffer never grows while
            // something is being measured.
            wire: Vec::with_capacity(64 * 1024),
            localhost: ServerName::try_from(tls::SERVER_NAME).expect("a valid DNS name"),
        }
    }

    fn timer(&self) -> Timer {
        Timer::start(self.options.wall_clock)
    }

    /// A new pair, handshaken, after the server's byte reached the client.
    fn settled_pair(
        &mut self,
        client: &Arc<ClientConfig>,
        server: &Arc<ServerConfig>,
    ) -> Result<Pair, String> {
        let mut pair = Pair::new(client, server, &self.localhost)?;
        pair.handshake(&mut self.wire)?;
        pair.settle(&mut self.wire)?;
        Ok(pair)
    }
}

/// Measures one repetition: the calling thread's CPU time, or with
/// --wall-clock the monotonic clock.
struct Timer {
    clock: libc::clockid_t,
    start: f64,
}

impl Timer {
    fn start(wall_clock: bool) -> Self {
        let clock =
            if wall_clock { libc::CLOCK_MONOTONIC } else { libc::CLOCK_THREAD_CPUTIME_ID };
        Timer { clock, start: Self::now(clock) }
    }

    fn seconds(&self) -> f64 {
        Self::now(self.clock) - self.start
    }

    fn now(clock: libc::clockid_t) -> f64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to write to; both clocks exist on Linux.
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime");
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
}

pub fn note(text: &str) {
    // stdout is line-buffered, so each note goes out at once.
    println!("# {}", text);
}

/// A scenario after warm: its work, the size of one repetition and the
/// repetitions run so far.
pub struct Scenario {
    name: String,
    unit: &'static str,
    count: u64,
    values: Vec<f64>,
    work: Work,
}

enum Work {
    Handshakes { client: Arc<ClientConfig>, server: Arc<ServerConfig> },
    Resumptions(Resumption),
    Bulk { client: Arc<ClientConfig>, server: Arc<ServerConfig>, write_size: usize },
    Memory { client: Arc<ClientConfig>, server: Arc<ServerConfig>, after_transfer: bool },
}

struct Resumption {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    store: Arc<CountingSessionStore>,
    tls12: bool,
    leaf_len: usize,
}

impl Scenario {
    pub fn warm(name: &str, bench: &mut Bench) -> Result<Self, String> {
        let (work, unit, count) = match name {
            "handshake_tls13_ecdsa" => warm_handshakes(name, bench, "ecdsa", Protocol::Tls13)?,
            "handshake_tls13_rsa2048" => warm_handshakes(name, bench, "rsa2048", Protocol::Tls13)?,
            "handshake_tls12_ecdsa" => warm_handshakes(name, bench, "ecdsa", Protocol::Tls12)?,
            // rustls 0.20 always sends one TLS 1.3 ticket: the same work for both.
            "resume_tls13" | "resume_tls13_one_ticket" => {
                warm_resumption(name, bench, Protocol::Tls13)?
            }
            "resume_tls12" => warm_resumption(name, bench, Protocol::Tls12)?,
            "bulk_64" => warm_bulk(name, bench, 64, Protocol::Tls13)?,
            "bulk_1024" => warm_bulk(name, bench, 1024, Protocol::Tls13)?,
            "bulk_16384" => warm_bulk(name, bench, 16384, Protocol::Tls13)?,
            "bulk_64_tls12" => warm_bulk(name, bench, 64, Protocol::Tls12)?,
            "bulk_1024_tls12" => warm_bulk(name, bench, 1024, Protocol::Tls12)?,
            "bulk_16384_tls12" => warm_bulk(name, bench, 16384, Protocol::Tls12)?,
            "bulk_16384_chacha20" => warm_bulk(name, bench, 16384, Protocol::Tls12Chacha20)?,
            "mem_idle_handshake" => warm_memory(name, bench, false)?,
            "mem_idle_after_1mib" => warm_memory(name, bench, true)?,
            _ => return Err(format!("unknown scenario {}", name)),
        };
        Ok(Scenario { name: name.to_string(), unit, count, values: Vec::new(), work })
    }

    /// One timed repetition; returns its figure in the scenario's unit.
    pub fn run(&mut self, bench: &mut Bench) -> Result<f64, String> {
        let value = match &self.work {
            Work::Handshakes { client, server } => {
                self.count as f64 / time_handshakes(bench, client, server, self.count)?
            }
            Work::Resumptions(r) => self.count as f64 / r.time(bench, self.count)?,
            Work::Bulk { client, server, write_size } => {
                let total = self.count * *write_size as u64;
                let verify = bench.options.quick;
                let (secs, _) = time_bulk(bench, client, server, *write_size, total, verify)?;
                total as f64 / 1e6 / secs
            }
            Work::Memory { client, server, after_transfer } => {
                let pairs = self.count;
                let (idle, after) = memory_per_pair(bench, client, server, pairs, *after_transfer)?;
                if *after_transfer { after } else { idle }
            }
        };
        self.values.push(value);
        Ok(value)
    }

    pub fn report(&self) -> Result<String, String> {
        if self.values.is_empty() {
            return Err("no repetitions were run".to_string());
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median =
            if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
        Ok(format!(
            "PEER scenario={} median={:.3} unit={} min={:.3} max={:.3} count={}",
            self.name, median, self.unit, sorted[0], sorted[sorted.len() - 1], self.count
        ))
    }
}

fn other_key_type(key_type: &str) -> &'static str {
    if key_type == "ecdsa" { "rsa2048" } else { "ecdsa" }
}

/// Handshakes per repetition: 5 with --quick, else enough for about
/// --target-seconds at `rate`, and at least 20.
fn size_handshakes(bench: &Bench, rate: f64) -> u64 {
    if bench.options.quick {
        5
    } else {
        ((rate * bench.options.target_seconds) as u64).max(20)
    }
}

/// The untimed handshakes that measure the rate a repetition is sized by.
fn probe_size(bench: &Bench) -> u64 {
    if bench.options.quick { 2 } else { 10 }
}

/// Shows that the client really verifies: trusting the other key type's CA,
/// or asking for another name, must fail the handshake at the client.
fn verification_note(
    name: &str,
    bench: &mut Bench,
    key_type: &str,
    protocol: Protocol,
    server: &Arc<ServerConfig>,
) -> Result<(), String> {
    let other_ca = Credentials::load(&bench.options.dir, other_key_type(key_type))?;
    let own_ca = Credentials::load(&bench.options.dir, key_type)?;
    let wrong_name = ServerName::try_from("wrong.example").expect("a valid DNS name");
    let cases = [
        ("untrusted CA", &other_ca, &bench.localhost),
        ("wrong name", &own_ca, &wrong_name),
    ];
    let mut refusals = Vec::new();
    for (what, trusted, server_name) in cases {
        let client = Arc::new(tls::client_config(trusted, protocol, ClientSessions::Off)?);
        let mut pair = Pair::new(&client, server, server_name)?;
        match pair.handshake(&mut bench.wire) {
            Ok(_) => return Err(format!("a client with the {} completed the handshake", what)),
            Err(f) if f.side == "client" => refusals.push(format!("{} refused: {}", what, f.error)),
            Err(f) => return Err(format!("with the {}, the handshake failed at the {}", what, f)),
        }
    }
    note(&format!("{}: verification checked ({})", name, refusals.join("; ")));
    Ok(())
}

fn warm_handshakes(
    name: &str,
    bench: &mut Bench,
    key_type: &str,
    protocol: Protocol,
) -> Result<Warmed, String> {
    let creds = Credentials::load(&bench.options.dir, key_type)?;
    let client = Arc::new(tls::client_config(&creds, protocol, ClientSessions::Off)?);
    let server = tls::server_config(&creds, protocol, false)?;

    // Once, the same client settings with a counting store, to show that
    // no ticket reaches the client (the settle byte would flush any).
    let store = CountingSessionStore::new(false);
    let mut counted = tls::client_config(&creds, protocol, ClientSessions::Off)?;
    counted.session_storage = store.clone();
    let pair = bench.settled_pair(&Arc::new(counted), &server)?;
    note(&format!("{}: {} {}", name, pair.negotiated()?, GROUP));
    if store.sessions_given() != 0 {
        return Err("the client was given a session to resume".to_string());
    }
    verification_note(name, bench, key_type, protocol, &server)?;

    let probe = probe_size(bench);
    let secs = time_handshakes(bench, &client, &server, probe)?;
    let n = size_handshakes(bench, probe as f64 / secs);
    note(&format!(
        "{}: {} handshakes per rep, every one full: no session cache on either side, no \
         ticketer, client tickets off (0 tickets reached a counting client)",
        name, n
    ));
    Ok((Work::Handshakes { client, server }, "handshakes/s", n))
}

fn time_handshakes(
    bench: &mut Bench,
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    n: u64,
) -> Result<f64, String> {
    let timer = bench.timer();
    for _ in 0..n {
        let mut pair = Pair::new(client, server, &bench.localhost)?;
        pair.handshake(&mut bench.wire)?;
    }
    Ok(timer.seconds())
}

fn warm_resumption(name: &str, bench: &mut Bench, protocol: Protocol) -> Result<Warmed, String> {
    let creds = Credentials::load(&bench.options.dir, "ecdsa")?;
    let store = CountingSessionStore::new(true);
    let client = tls::client_config(&creds, protocol, ClientSessions::Tickets(store.clone()))?;
    let r = Resumption {
        client: Arc::new(client),
        server: tls::server_config(&creds, protocol, true)?,
        store,
        tls12: protocol.is_tls12(),
        leaf_len: creds.leaf_len(),
    };

    // The first handshake is full and leaves the client a ticket.
    let mut pair = Pair::new(&r.client, &r.server, &bench.localhost)?;
    let full = pair.handshake(&mut bench.wire)?;
    pair.settle(&mut bench.wire)?;
    if r.was_resumed(&pair, &full) {
        return Err("the first handshake, with no ticket to offer, looks resumed".to_string());
    }
    if r.store.sessions_given() == 0 {
        return Err("the full handshake left the client no session to resume".to_string());
    }
    note(&format!("{}: {} {}", name, pair.negotiated()?, GROUP));
    verification_note(name, bench, "ecdsa", protocol, &r.server)?;

    let mut pair = Pair::new(&r.client, &r.server, &bench.localhost)?;
    let resumed = r.resume(&mut pair, bench)?;
    let flights = format!(
        "the server's first flight was {} bytes ({} in the full handshake), shorter than the \
         {}-byte server certificate alone",
        resumed.server_first_flight, full.server_first_flight, r.leaf_len
    );
    let how = if r.tls12 {
        format!(
            "rustls 0.20 has no resumption flag on either side in TLS 1.2, so by what moved: \
             the client was established right after the server's first flight, which a full \
             TLS 1.2 handshake never allows, and {}",
            flights
        )
    } else {
        format!(
            "server: received_resumption_data() is Some, rustls's sign of an accepted ticket; \
             client: rustls 0.20 has no flag, so by the bytes: {}",
            flights
        )
    };
    note(&format!("{}: resumed ({}); checked on every handshake of every run", name, how));

    let probe = probe_size(bench);
    let given = r.store.sessions_given();
    let secs = r.time(bench, probe)?;
    let n = size_handshakes(bench, probe as f64 / secs);
    note(&format!(
        "{}: {} resumptions per rep; tickets per handshake: {} (counted by the client's \
         session store), the client offers the newest",
        name,
        n,
        (r.store.sessions_given() - given) as f64 / probe as f64
    ));
    Ok((Work::Resumptions(r), "handshakes/s", n))
}

impl Resumption {
    /// rustls 0.20's client says nothing about resumption, and its server
    /// only in TLS 1.3; the bytes and the rounds that moved say the rest.
    fn was_resumed(&self, pair: &Pair, shape: &HandshakeShape) -> bool {
        let no_certificate = shape.server_first_flight < self.leaf_len;
        let flag = if self.tls12 {
            shape.client_done_after_first_flight
        } else {
            pair.server.received_resumption_data().is_some()
        };
        no_certificate && flag
    }

    /// One operation: handshake offering the newest ticket (it must
    /// resume), then the settle byte that brings the new tickets.
    fn resume(&self, pair: &mut Pair, bench: &mut Bench) -> Result<HandshakeShape, String> {
        let shape = pair.handshake(&mut bench.wire)?;
        pair.settle(&mut bench.wire)?;
        if !self.was_resumed(pair, &shape) {
            return Err(format!(
                "the session was not resumed (server's first flight {} bytes)",
                shape.server_first_flight
            ));
        }
        Ok(shape)
    }

    fn time(&self, bench: &mut Bench, n: u64) -> Result<f64, String> {
        let timer = bench.timer();
        for _ in 0..n {
            let mut pair = Pair::new(&self.client, &self.server, &bench.localhost)?;
            self.resume(&mut pair, bench)?;
        }
        Ok(timer.seconds())
    }
}

fn warm_bulk(
    name: &str,
    bench: &mut Bench,
    write_size: usize,
    protocol: Protocol,
) -> Result<Warmed, String> {
    let creds = Credentials::load(&bench.options.dir, "ecdsa")?;
    let client = Arc::new(tls::client_config(&creds, protocol, ClientSessions::Off)?);
    let server = tls::server_config(&creds, protocol, false)?;
    let step = write_size as u64;

    let warm_total = MIB / step * step;
    let (secs, negotiated) = time_bulk(bench, &client, &server, write_size, warm_total, true)?;
    note(&format!("{}: {} {}", name, negotiated, GROUP));
    note(&format!("{}: {} bytes intact", name, warm_total));
    let total = if bench.options.quick {
        warm_total
    } else {
        let rate = warm_total as f64 / secs;
        ((rate * bench.options.target_seconds) as u64).max(32 * MIB) / step * step
    };
    note(&format!(
        "{}: {} writes of {} bytes ({} bytes) per rep, {}",
        name,
        total / step,
        write_size,
        total,
        if bench.options.quick { "every byte compared" } else { "byte count checked" }
    ));
    Ok((Work::Bulk { client, server, write_size }, "MB/s", total / step))
}

/// Times `total` bytes going client to server in writes of `write_size`,
/// on a new connection whose handshake is not timed. Returns the seconds
/// and what was negotiated.
fn time_bulk(
    bench: &mut Bench,
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    write_size: usize,
    total: u64,
    verify: bool,
) -> Result<(f64, String), String> {
    let mut pair = bench.settled_pair(client, server)?;
    let negotiated = pair.negotiated()?;
    let mut receiver = Receiver::new(bench.pattern, verify);

    let timer = bench.timer();
    let mut sent = 0;
    while sent < total {
        pair.send(bench.pattern.at(sent, write_size), &mut bench.wire, &mut receiver)?;
        sent += write_size as u64;
    }
    let secs = timer.seconds();
    if receiver.received() != total {
        return Err(format!("sent {} bytes, received {}", total, receiver.received()));
    }
    Ok((secs, negotiated))
}

fn warm_memory(name: &str, bench: &mut Bench, after_transfer: bool) -> Result<Warmed, String> {
    let creds = Credentials::load(&bench.options.dir, "ecdsa")?;
    let protocol = Protocol::Tls13;
    let store = CountingSessionStore::new(false);
    let client = tls::client_config(&creds, protocol, ClientSessions::Tickets(store.clone()))?;
    let client = Arc::new(client);
    let server = tls::server_config(&creds, protocol, true)?;
    let pairs: u64 = if bench.options.quick { 10 } else { 50 };

    let pair = bench.settled_pair(&client, &server)?;
    note(&format!("{}: {} {}", name, pair.negotiated()?, GROUP));
    drop(pair);
    note(&format!(
        "{}: live heap counted by a global allocator wrapper around System that adds \
         malloc_usable_size of each block, as the C++ side's malloc hook does; it sees all of \
         rustls, webpki and ring (whose C code never allocates)",
        name
    ));

    let given = store.sessions_given();
    let (idle, after) = memory_per_pair(bench, &client, &server, pairs, after_transfer)?;
    // memory_per_pair makes one throw-away pair besides the measured ones.
    let tickets = (store.sessions_given() - given) as f64 / (pairs + 1) as f64;
    let figure = if after_transfer {
        format!("{:.0} bytes per pair after 1 MiB each ({:.0} before it)", after, idle)
    } else {
        format!("{:.0} bytes per pair", idle)
    };
    note(&format!(
        "{}: {} pairs, each a boxed ClientConnection + ServerConnection after a full handshake \
         and the settle byte; tickets per pair: {}, processed by the client and dropped (no \
         client session cache, so no pair resumes); the buffer standing for the transport is \
         shared by all pairs and not counted; warm measurement: {}",
        name, pairs, tickets, figure
    ));
    Ok((Work::Memory { client, server, after_transfer }, "bytes", pairs))
}

/// Live heap bytes per established pair: after the handshakes (and the
/// settle byte, which carries the tickets), and, with `after_transfer`,
/// after 1 MiB went client to server through each pair in 16 KiB writes
/// and was all read.
fn memory_per_pair(
    bench: &mut Bench,
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    pairs: u64,
    after_transfer: bool,
) -> Result<(f64, f64), String> {
    const WRITE: usize = 16384;
    {
        // One throw-away pair first, so lazy one-time state is not counted.
        let mut warm = bench.settled_pair(client, server)?;
        let mut receiver = Receiver::new(bench.pattern, true);
        warm.send(bench.pattern.at(0, WRITE), &mut bench.wire, &mut receiver)?;
    }
    // Allocated before the first snapshot; the pairs themselves are boxed
    // so that their own bytes count, not only what they point to.
    let mut held: Vec<Box<Pair>> = Vec::with_capacity(pairs as usize);
    let mut receiver = Receiver::new(bench.pattern, true);

    let before = heap::live_bytes();
    for _ in 0..pairs {
        held.push(Box::new(bench.settled_pair(client, server)?));
    }
    let established = heap::live_bytes();
    let per_pair = |bytes: i64| (bytes - before) as f64 / pairs as f64;
    if !after_transfer {
        return Ok((per_pair(established), 0.0));
    }

    // The receiver sees the pairs' streams one after the other, as one.
    let mut sent = 0;
    for pair in &mut held {
        let end = sent + MIB;
        while sent < end {
            pair.send(bench.pattern.at(sent, WRITE), &mut bench.wire, &mut receiver)?;
            sent += WRITE as u64;
        }
    }
    let transferred = heap::live_bytes();
    if receiver.received() != pairs * MIB {
        return Err(format!("{} bytes arrived of {}", receiver.received(), pairs * MIB));
    }
    Ok((per_pair(established), per_pair(transferred)))
}
