//! The node's QUIC client of the hub: mutual TLS with the member certificate, ALPN `siso/1`,
//! one request per bidirectional stream, bounded reads.
//!
//! A hub that refuses the client certificate still lets `connect()` succeed; the refusal shows on
//! the first stream. [`HubClient::connect`] therefore sends `Hello` at once and treats its reply
//! as the real check of the credentials.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use siso_shared::wire::{self, Hello, HelloAck, Message, WireError, MAX_FRAME, PROTOCOL_VERSION};
use siso_shared::MemberId;

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A PEM file could not be read.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// TLS configuration refused.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The local UDP socket could not be opened.
    #[error("opening a UDP socket: {0}")]
    Socket(std::io::Error),
    /// The connection could not be started.
    #[error("connecting to the hub at {addr}: {reason}")]
    Connect {
        /// The hub address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The connection failed or was closed by the hub (for example after refusing the
    /// certificate).
    #[error("connection to the hub failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A stream failed.
    #[error("request to the hub failed: {0}")]
    Stream(String),
    /// The hub's reply could not be decoded.
    #[error("bad reply from the hub: {0}")]
    Codec(#[from] wire::CodecError),
    /// The hub refused the request.
    #[error("the hub refused the request: {0}")]
    Refused(WireError),
    /// The hub answered with an unexpected message.
    #[error("unexpected reply from the hub: {0}")]
    Unexpected(&'static str),
    /// No answer in time.
    #[error("the hub did not answer within {0:?}")]
    Timeout(Duration),
}

impl ClientError {
    /// True if retrying later may succeed (network trouble, hub busy or down).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Connection(_)
            | ClientError::Stream(_)
            | ClientError::Timeout(_) => true,
            ClientError::Refused(e) => e.code == wire::ErrorCode::Unavailable,
            _ => false,
        }
    }
}

fn pem_err(path: &Path, e: impl ToString) -> ClientError {
    ClientError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// TLS material of a client.
pub struct ClientTls {
    /// Trusted CA certificates (the regional CA).
    pub roots: Vec<CertificateDer<'static>>,
    /// The member's certificate chain and key; `None` connects without a client certificate
    /// (only useful to test that the hub refuses it).
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// ALPN protocols offered (normally just `siso/1`).
    pub alpn: Vec<Vec<u8>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ClientTls {
    /// Loads the CA certificate, the member certificate and its key from PEM files.
    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> Result<ClientTls, ClientError> {
        let roots = CertificateDer::pem_file_iter(ca)
            .map_err(|e| pem_err(ca, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(ca, e))?;
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem_err(cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(cert, e))?;
        if roots.is_empty() {
            return Err(pem_err(ca, "no certificate found"));
        }
        if chain.is_empty() {
            return Err(pem_err(cert, "no certificate found"));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
        Ok(ClientTls {
            roots,
            identity: Some((chain, key)),
            alpn: vec![wire::ALPN.to_vec()],
        })
    }

    /// The quinn client configuration (TLS 1.3, ring, the ALPN list of `self`).
    pub fn quinn_config(self) -> Result<quinn::ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in self.roots {
            roots.add(c).map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let mut tls = match self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Tls(e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = self.alpn;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(10)));
        cfg.transport_config(Arc::new(transport));
        Ok(cfg)
    }
}

/// A client endpoint (one UDP socket) and one TLS configuration, kept to open several
/// connections: opening a quinn endpoint allocates its receive buffers, and keeping the TLS
/// configuration keeps its session tickets, so the next connection to the same server *resumes*
/// the TLS 1.3 session (no certificate signatures or chain verification on either side; the
/// server still knows the certificate verified at the full handshake).
#[derive(Debug, Clone)]
pub struct Dialer {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    /// The endpoint serves only this dialer's connections (then closing the last one waits for
    /// the endpoint to go idle).
    own_endpoint: bool,
}

impl Dialer {
    /// A dialer with an endpoint of its own, bound to the unspecified address of `addr`'s family.
    pub fn new(addr: SocketAddr, tls: ClientTls) -> Result<Dialer, ClientError> {
        let endpoint = client_endpoint(addr)?;
        Ok(Dialer {
            endpoint,
            config: tls.quinn_config()?,
            own_endpoint: true,
        })
    }

    /// A dialer with an endpoint of its own and the node's TLS configuration from its PEM files
    /// ([`config_from_files`]: the same configuration, and so its session tickets, for as long
    /// as the files are unchanged).
    pub fn from_files(
        addr: SocketAddr,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Dialer, ClientError> {
        Ok(Dialer {
            endpoint: client_endpoint(addr)?,
            config: config_from_files(ca, cert, key)?,
            own_endpoint: true,
        })
    }

    /// A dialer on an endpoint shared with other dialers (many identities, one socket).
    pub fn on_endpoint(endpoint: quinn::Endpoint, tls: ClientTls) -> Result<Dialer, ClientError> {
        Ok(Dialer {
            endpoint,
            config: tls.quinn_config()?,
            own_endpoint: false,
        })
    }

    /// Opens a QUIC connection to `addr` (TLS name `server_name`) within `timeout`; a handshake
    /// that times out is abandoned for good.
    pub async fn dial(
        &self,
        addr: SocketAddr,
        server_name: &str,
        timeout: Duration,
    ) -> Result<quinn::Connection, ClientError> {
        let connecting = self
            .endpoint
            .connect_with(self.config.clone(), addr, server_name)
            .map_err(|e| ClientError::Connect {
                addr,
                reason: e.to_string(),
            })?;
        match tokio::time::timeout(timeout, connecting).await {
            Err(_) => Err(ClientError::Timeout(timeout)),
            Ok(Err(e)) => Err(ClientError::Connect {
                addr,
                reason: e.to_string(),
            }),
            Ok(Ok(c)) => Ok(c),
        }
    }
}

/// TLS configurations made from PEM files, by a hash of the files' bytes (at most
/// [`CONFIGS_KEPT`]). A node's sync rounds reuse the configuration — and with it the session
/// tickets the hub gave it, so the next round's handshake resumes — while its CA, certificate
/// and key files are unchanged; a renewed certificate is read at the next connection, as ever,
/// and makes a new configuration. Only the configuration is kept: endpoints belong to the
/// runtime that made them.
static CONFIGS: std::sync::Mutex<Vec<([u8; 32], quinn::ClientConfig)>> =
    std::sync::Mutex::new(Vec::new());

/// How many configurations [`CONFIGS`] keeps (the oldest goes first).
const CONFIGS_KEPT: usize = 8;

/// The TLS configuration for the CA, certificate and key in these PEM files (see [`CONFIGS`]).
pub fn config_from_files(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<quinn::ClientConfig, ClientError> {
    let id = files_id(ca, cert, key)?;
    if let Some((_, c)) = CONFIGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(k, _)| *k == id)
    {
        return Ok(c.clone());
    }
    let config = ClientTls::from_files(ca, cert, key)?.quinn_config()?;
    let mut kept = CONFIGS.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= CONFIGS_KEPT {
        kept.remove(0);
    }
    kept.push((id, config.clone()));
    Ok(config)
}

/// The hash [`CONFIGS`] keeps configurations by.
fn files_id(ca: &Path, cert: &Path, key: &Path) -> Result<[u8; 32], ClientError> {
    let mut h = blake3::Hasher::new();
    for p in [ca, cert, key] {
        let bytes = std::fs::read(p).map_err(|e| pem_err(p, e))?;
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(*h.finalize().as_bytes())
}

/// Whether a configuration for these files, as they are now, is kept (the next connection made
/// with them may resume its TLS session).
pub fn config_kept(ca: &Path, cert: &Path, key: &Path) -> Result<bool, ClientError> {
    let id = files_id(ca, cert, key)?;
    Ok(CONFIGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|(k, _)| *k == id))
}

/// A client endpoint bound to the unspecified address of `addr`'s family (any free port).
pub fn client_endpoint(addr: SocketAddr) -> Result<quinn::Endpoint, ClientError> {
    let bind: SocketAddr = if addr.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    };
    quinn::Endpoint::client(bind).map_err(ClientError::Socket)
}

/// Opens a QUIC connection to `addr` (TLS name `server_name`) within `timeout` on an endpoint of
/// its own; a handshake that times out is abandoned for good.
pub async fn dial(
    addr: SocketAddr,
    server_name: &str,
    tls: ClientTls,
    timeout: Duration,
) -> Result<(quinn::Endpoint, quinn::Connection), ClientError> {
    let d = Dialer::new(addr, tls)?;
    match d.dial(addr, server_name, timeout).await {
        Ok(c) => Ok((d.endpoint, c)),
        Err(e) => {
            d.endpoint.close(quinn::VarInt::from_u32(0), b"timeout");
            Err(e)
        }
    }
}

/// One request on its own bidirectional stream: writes `bytes`, finishes, reads the whole reply
/// (at most one maximal frame) within `timeout`.
pub async fn exchange(
    conn: &quinn::Connection,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let fut = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(bytes)
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        send.finish()
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        recv.read_to_end(MAX_FRAME + wire::HEADER_LEN)
            .await
            .map_err(|e| match e {
                quinn::ReadToEndError::Read(quinn::ReadError::ConnectionLost(c)) => {
                    ClientError::Connection(c)
                }
                other => ClientError::Stream(other.to_string()),
            })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

/// A connection to the hub.
#[derive(Debug)]
pub struct HubClient {
    /// The endpoint, if the client has it to itself (closing waits for it to go idle).
    endpoint: Option<quinn::Endpoint>,
    conn: quinn::Connection,
    timeout: Duration,
}

impl HubClient {
    /// Connects and says `Hello`; the returned `HelloAck` is the hub's confirmation of the
    /// identity it read from the certificate.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        tls: ClientTls,
        member: &MemberId,
        timeout: Duration,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        let (endpoint, conn) = dial(addr, server_name, tls, timeout).await?;
        HubClient::hello(Some(endpoint), conn, member, timeout).await
    }

    /// Connects with a [`Dialer`] (its endpoint and TLS session cache) and says `Hello`.
    pub async fn connect_via(
        dialer: &Dialer,
        addr: SocketAddr,
        server_name: &str,
        member: &MemberId,
        timeout: Duration,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        let conn = dialer.dial(addr, server_name, timeout).await?;
        let endpoint = dialer.own_endpoint.then(|| dialer.endpoint.clone());
        HubClient::hello(endpoint, conn, member, timeout).await
    }

    async fn hello(
        endpoint: Option<quinn::Endpoint>,
        conn: quinn::Connection,
        member: &MemberId,
        timeout: Duration,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        let client = HubClient {
            endpoint,
            conn,
            timeout,
        };
        let reply = client
            .request(&Message::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                software_version: siso_shared::SOFTWARE_VERSION.into(),
                member: member.clone(),
            }))
            .await?;
        match reply {
            Message::HelloAck(ack) => Ok((client, ack)),
            Message::Error(e) => Err(ClientError::Refused(e)),
            other => Err(ClientError::Unexpected(other.kind())),
        }
    }

    /// Sends one request on its own stream and returns the hub's reply (an `Error` reply is
    /// returned as a message, not as `Err`).
    pub async fn request(&self, msg: &Message) -> Result<Message, ClientError> {
        let frame = wire::encode(msg)?;
        self.request_raw(&frame).await
    }

    /// Sends raw bytes as a request (tests of malformed frames) and reads the reply.
    pub async fn request_raw(&self, bytes: &[u8]) -> Result<Message, ClientError> {
        let reply = exchange(&self.conn, bytes, self.timeout).await?;
        match wire::decode_frame(&reply)? {
            Some((m, used)) if used == reply.len() => Ok(m),
            Some(_) => Err(ClientError::Codec(wire::CodecError::TrailingBytes(0))),
            None => Err(ClientError::Codec(wire::CodecError::Truncated)),
        }
    }

    /// Sends a request and returns its reply, turning an `Error` reply into `Err(Refused)`.
    pub async fn call(&self, msg: &Message) -> Result<Message, ClientError> {
        match self.request(msg).await? {
            Message::Error(e) => Err(ClientError::Refused(e)),
            m => Ok(m),
        }
    }

    /// Closes the connection politely and waits for the close to be sent.
    /// On a shared endpoint the close is sent by the endpoint's driver, which keeps running.
    pub async fn close(self) {
        self.conn.close(quinn::VarInt::from_u32(0), b"bye");
        if let Some(e) = self.endpoint {
            e.wait_idle().await;
        }
    }

    /// The underlying connection (tests).
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }
}
