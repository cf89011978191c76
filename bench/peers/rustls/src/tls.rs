//! rustls configurations and a client + server pair joined in memory.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::client::{ClientSessionMemoryCache, NoClientSessionStorage, StoresClientSessions};
use rustls::server::NoServerSessionStorage;
use rustls::{
    Certificate, ClientConfig, ClientConnection, ConnectionCommon, PrivateKey, RootCertStore,
    ServerConfig, ServerConnection, ServerName, SupportedCipherSuite, SupportedProtocolVersion,
    Ticketer,
};

/// The name the client asks for (SNI and certificate check).
pub const SERVER_NAME: &str = "localhost";

/// One key type's PEM files from --dir: `KEY-ca.pem`, `KEY-cert.pem`, `KEY-key.pem`.
pub struct Credentials {
    pub ca: Certificate,
    pub chain: Vec<Certificate>,
    pub key: PrivateKey,
}

impl Credentials {
    pub fn load(dir: &Path, key_type: &str) -> Result<Self, String> {
        let pem = |suffix: &str| -> Result<Vec<Vec<u8>>, String> {
            let path = dir.join(format!("{}-{}.pem", key_type, suffix));
            let file = std::fs::File::open(&path)
                .map_err(|e| format!("{}: {}", path.display(), e))?;
            let mut reader = BufReader::new(file);
            let items = if suffix == "key" {
                rustls_pemfile::pkcs8_private_keys(&mut reader)
            } else {
                rustls_pemfile::certs(&mut reader)
            };
            match items {
                Ok(items) if !items.is_empty() => Ok(items),
                Ok(_) => Err(format!("{}: no PEM item of the expected kind", path.display())),
                Err(e) => Err(format!("{}: {}", path.display(), e)),
            }
        };
        Ok(Credentials {
            ca: Certificate(pem("ca")?.remove(0)),
            chain: pem("cert")?.into_iter().map(Certificate).collect(),
            key: PrivateKey(pem("key")?.remove(0)),
        })
    }

    /// The length of the server's own certificate, which every full
    /// handshake's first server flight must carry.
    pub fn leaf_len(&self) -> usize {
        self.chain[0].0.len()
    }
}

/// The version and cipher suite a scenario pins; the only key exchange
/// group configured anywhere is X25519.
#[derive(Clone, Copy)]
pub enum Protocol {
    /// TLS 1.3, TLS_AES_128_GCM_SHA256.
    Tls13,
    /// TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256.
    Tls12,
    /// TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305.
    Tls12Chacha20,
}

impl Protocol {
    fn suite(self) -> SupportedCipherSuite {
        use rustls::cipher_suite::*;
        match self {
            Protocol::Tls13 => TLS13_AES_128_GCM_SHA256,
            Protocol::Tls12 => TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            Protocol::Tls12Chacha20 => TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        }
    }

    fn version(self) -> &'static SupportedProtocolVersion {
        match self {
            Protocol::Tls13 => &rustls::version::TLS13,
            _ => &rustls::version::TLS12,
        }
    }

    pub fn is_tls12(self) -> bool {
        !matches!(self, Protocol::Tls13)
    }
}

/// What the client does with sessions.
pub enum ClientSessions {
    /// No resumption at all: nothing stored, and no ticket extension
    /// (TLS 1.2) nor psk_key_exchange_modes (TLS 1.3), without which a
    /// rustls server sends no tickets.
    Off,
    /// Tickets on, through this store (which may keep them or not).
    Tickets(Arc<CountingSessionStore>),
}

pub fn client_config(
    trusted: &Credentials,
    protocol: Protocol,
    sessions: ClientSessions,
) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots
        .add(&trusted.ca)
        .map_err(|e| format!("CA certificate refused: {}", e))?;
    let mut config = ClientConfig::builder()
        .with_cipher_suites(&[protocol.suite()])
        .with_kx_groups(&[&rustls::kx_group::X25519])
        .with_protocol_versions(&[protocol.version()])
        .map_err(|e| format!("client config: {}", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    match sessions {
        ClientSessions::Off => {
            config.session_storage = Arc::new(NoClientSessionStorage {});
            config.enable_tickets = false;
        }
        ClientSessions::Tickets(store) => config.session_storage = store,
    }
    Ok(config)
}

/// A server configuration; with `tickets`, stateless tickets from rustls's
/// own Ticketer (as BoringSSL issues them), else no tickets and no session
/// cache, so no handshake can resume.
pub fn server_config(
    creds: &Credentials,
    protocol: Protocol,
    tickets: bool,
) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder()
        .with_cipher_suites(&[protocol.suite()])
        .with_kx_groups(&[&rustls::kx_group::X25519])
        .with_protocol_versions(&[protocol.version()])
        .map_err(|e| format!("server config: {}", e))?
        .with_no_client_auth()
        .with_single_cert(creds.chain.clone(), creds.key.clone())
        .map_err(|e| format!("server certificate or key refused: {}", e))?;
    if tickets {
        config.ticketer = Ticketer::new().map_err(|e| format!("ticketer: {}", e))?;
    } else {
        // The builder's default ticketer already never produces tickets.
        config.session_storage = Arc::new(NoServerSessionStorage {});
    }
    Ok(Arc::new(config))
}

/// A client session store that counts the sessions (tickets) it is given,
/// so the notes can say how many tickets a handshake delivered. One that
/// does not keep them makes every handshake full while tickets still flow,
/// as in the C++ sides' memory scenarios (their pairs never offer a session).
pub struct CountingSessionStore {
    kept: Option<Arc<ClientSessionMemoryCache>>,
    sessions_given: AtomicUsize,
}

impl CountingSessionStore {
    pub fn new(keep: bool) -> Arc<Self> {
        Arc::new(CountingSessionStore {
            kept: keep.then(|| ClientSessionMemoryCache::new(256)),
            sessions_given: AtomicUsize::new(0),
        })
    }

    pub fn sessions_given(&self) -> usize {
        self.sessions_given.load(Ordering::Relaxed)
    }
}

impl StoresClientSessions for CountingSessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        // rustls 0.20 stores two kinds of entries under keys that begin with
        // their kind: "session" (a TLS 1.2 session or a TLS 1.3 ticket) and
        // "kx-hint" (the group the server chose). Only the first is a ticket.
        if key.starts_with(b"session") {
            self.sessions_given.fetch_add(1, Ordering::Relaxed);
        }
        match &self.kept {
            Some(cache) => cache.put(key, value),
            None => false,
        }
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.kept.as_ref().and_then(|cache| cache.get(key))
    }
}

/// How a handshake went, as seen from the bytes that moved.
pub struct HandshakeShape {
    /// Bytes of the server's first flight. A full handshake's carries the
    /// server certificate, so one shorter than the certificate did not.
    pub server_first_flight: usize,
    /// The client was established right after the server's first flight:
    /// always so in TLS 1.3, only when abbreviated (resumed) in TLS 1.2.
    pub client_done_after_first_flight: bool,
}

/// A failure of one side of a pair.
#[derive(Debug)]
pub struct Failure {
    pub side: &'static str,
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.side, self.error)
    }
}

/// Lets `?` turn a Failure into the String errors the protocol answers with.
impl From<Failure> for String {
    fn from(f: Failure) -> String {
        f.to_string()
    }
}

fn failure(side: &'static str, error: impl std::fmt::Display) -> Failure {
    Failure { side, error: error.to_string() }
}

/// Moves everything `from` has to send into `to`, through `wire` (one copy,
/// standing for the transport), and lets `to` process it. Returns the
/// number of bytes moved; a rustls error is the receiver's.
fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
    wire: &mut Vec<u8>,
) -> Result<usize, rustls::Error> {
    wire.clear();
    while from.wants_write() {
        // Writing into a Vec cannot fail.
        from.write_tls(wire).expect("write_tls into a Vec");
    }
    let mut rest = &wire[..];
    // Stop while bytes remain: read_tls on an empty reader means EOF to
    // rustls, and it would then report the stream as truncated.
    while !rest.is_empty() {
        to.read_tls(&mut rest)
            .map_err(|e| rustls::Error::General(format!("read_tls: {}", e)))?;
        to.process_new_packets()?;
    }
    Ok(wire.len())
}

/// Reads all the plaintext `conn` has into `buffer`, handing each piece to
/// `take`, until rustls says it would block.
fn read_available<T>(
    conn: &mut ConnectionCommon<T>,
    buffer: &mut [u8],
    mut take: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    loop {
        match conn.reader().read(buffer) {
            Ok(0) => return Err("the peer closed the connection".to_string()),
            Ok(n) => take(&buffer[..n])?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn write_all<T>(conn: &mut ConnectionCommon<T>, data: &[u8]) -> Result<(), String> {
    match conn.writer().write(data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(n) => Err(format!("wrote {} of {} bytes (buffer limit)", n, data.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// A client and a server connection and the bytes between them.
pub struct Pair {
    pub client: ClientConnection,
    pub server: ServerConnection,
}

impl Pair {
    pub fn new(
        client: &Arc<ClientConfig>,
        server: &Arc<ServerConfig>,
        name: &ServerName,
    ) -> Result<Self, Failure> {
        Ok(Pair {
            client: ClientConnection::new(Arc::clone(client), name.clone())
                .map_err(|e| failure("client", e))?,
            server: ServerConnection::new(Arc::clone(server)).map_err(|e| failure("server", e))?,
        })
    }

    /// Runs the handshake until both sides are established; whatever the
    /// server sends right after (TLS 1.3 tickets) reaches the client too.
    pub fn handshake(&mut self, wire: &mut Vec<u8>) -> Result<HandshakeShape, Failure> {
        let mut shape = HandshakeShape {
            server_first_flight: 0,
            client_done_after_first_flight: false,
        };
        for round in 0..8 {
            transfer(&mut self.client, &mut self.server, wire).map_err(|e| failure("server", e))?;
            let moved = transfer(&mut self.server, &mut self.client, wire)
                .map_err(|e| failure("client", e))?;
            if round == 0 {
                shape.server_first_flight = moved;
                shape.client_done_after_first_flight = !self.client.is_handshaking();
            }
            // Nothing is left queued then: the server cannot be established
            // before it has the client's last flight.
            if !self.client.is_handshaking() && !self.server.is_handshaking() {
                return Ok(shape);
            }
        }
        Err(failure("pair", "handshake did not complete in 8 rounds"))
    }

    /// The server writes one byte and the client reads it, and with it any
    /// tickets the server sent before it.
    pub fn settle(&mut self, wire: &mut Vec<u8>) -> Result<(), Failure> {
        write_all(&mut self.server, b"s").map_err(|e| failure("server", e))?;
        transfer(&mut self.server, &mut self.client, wire).map_err(|e| failure("client", e))?;
        let mut got = 0;
        let mut scratch = [0u8; 16];
        read_available(&mut self.client, &mut scratch, |data| {
            got += data.len();
            Ok(())
        })
        .map_err(|e| failure("client", e))?;
        if got != 1 {
            return Err(failure("client", format!("settle: read {} bytes, not 1", got)));
        }
        Ok(())
    }

    /// The client writes `data`, the records move to the server, and the
    /// server reads everything it can into `receiver`. Never inlined:
    /// bench/peers/instructions counts inside it by name.
    #[inline(never)]
    pub fn send(
        &mut self,
        data: &[u8],
        wire: &mut Vec<u8>,
        receiver: &mut Receiver,
    ) -> Result<(), Failure> {
        write_all(&mut self.client, data).map_err(|e| failure("client", e))?;
        transfer(&mut self.client, &mut self.server, wire).map_err(|e| failure("server", e))?;
        let Receiver { buffer, stream } = receiver;
        read_available(&mut self.server, buffer, |piece| stream.check(piece))
            .map_err(|e| failure("server", e))
    }

    /// "TLSv1.3 TLS13_AES_128_GCM_SHA256", as rustls names them, after
    /// checking that both sides agree.
    pub fn negotiated(&self) -> Result<String, String> {
        let client = (
            self.client.protocol_version(),
            self.client.negotiated_cipher_suite().map(|s| s.suite()),
        );
        let server = (
            self.server.protocol_version(),
            self.server.negotiated_cipher_suite().map(|s| s.suite()),
        );
        match client {
            (Some(version), Some(suite)) if client == server => {
                // rustls's Debug names are TLSv1_3 and TLSv1_2.
                let version = format!("{:?}", version).replace('_', ".");
                Ok(format!("{} {:?}", version, suite))
            }
            _ => Err(format!("the sides disagree: client {:?}, server {:?}", client, server)),
        }
    }
}

/// The bulk stream: a fixed pseudo-random pattern of PERIOD bytes, repeated.
pub struct Pattern {
    bytes: Vec<u8>,
}

const PERIOD: usize = 65536;
const MAX_PIECE: usize = 16384;

impl Pattern {
    pub fn new() -> Self {
        // xorshift64: any fixed sequence will do; a pseudo-random one makes
        // a lost, repeated or misplaced piece show.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let bytes = (0..PERIOD + MAX_PIECE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        Pattern { bytes }
    }

    /// The `len` (at most 16 KiB) bytes of the stream at `offset`.
    pub fn at(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.bytes[start..start + len]
    }
}

/// The server's side of the bulk stream: a reused 16 KiB read buffer and
/// the stream received so far.
pub struct Receiver<'p> {
    buffer: Vec<u8>,
    stream: ReceivedStream<'p>,
}

impl<'p> Receiver<'p> {
    /// With `verify`, every received byte is compared with the pattern.
    pub fn new(pattern: &'p Pattern, verify: bool) -> Self {
        Receiver {
            buffer: vec![0; MAX_PIECE],
            stream: ReceivedStream { pattern, verify, received: 0 },
        }
    }

    pub fn received(&self) -> u64 {
        self.stream.received
    }
}

struct ReceivedStream<'p> {
    pattern: &'p Pattern,
    verify: bool,
    received: u64,
}

impl ReceivedStream<'_> {
    fn check(&mut self, piece: &[u8]) -> Result<(), String> {
        if self.verify && piece != self.pattern.at(self.received, piece.len()) {
            return Err(format!(
                "received bytes differ from those sent in {}..{}",
                self.received,
                self.received + piece.len() as u64
            ));
        }
        self.received += piece.len() as u64;
        Ok(())
    }
}
