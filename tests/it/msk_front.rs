//! A stand-in for Amazon MSK's listeners, in front of a tansu broker of its own (tansu serves
//! plaintext only): TLS with a certificate authority made for the test, then SASL before any
//! request reaches the broker — SCRAM-SHA-512 with a user and password, or OAUTHBEARER with
//! MSK IAM tokens whose SigV4 signature it checks as MSK does. The broker advertises the
//! front's address, so every connection a client makes goes through it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

use crate::support::{free_port, local_aws};

/// How clients must authenticate.
#[derive(Debug, Clone)]
pub enum Sasl {
    /// SCRAM-SHA-512 with this user and password (MSK's SCRAM).
    Scram { user: String, password: String },
    /// MSK IAM: OAUTHBEARER tokens signed with this key pair for this region.
    MskIam {
        access_key: String,
        secret: String,
        region: String,
    },
}

impl Sasl {
    fn mechanism(&self) -> &'static str {
        match self {
            Sasl::Scram { .. } => "SCRAM-SHA-512",
            Sasl::MskIam { .. } => "OAUTHBEARER",
        }
    }
}

/// The front and the broker behind it; both stop when it is dropped.
pub struct MskFront {
    /// The bootstrap address clients use.
    pub brokers: String,
    /// The PEM file of the certificate authority that signed the front's certificate.
    pub ca: PathBuf,
    /// Connections that authenticated, by mechanism.
    accepted: Accepted,
    /// Connections refused (a bad proof or token, another mechanism, a request before
    /// authenticating).
    pub refused: Arc<AtomicUsize>,
    broker: Child,
    accept: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// Connections that authenticated, by mechanism.
type Accepted = Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>>;

impl Drop for MskFront {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = self.broker.kill();
        let _ = self.broker.wait();
    }
}

impl MskFront {
    /// How many connections authenticated with `mechanism` (`SCRAM-SHA-512`, `OAUTHBEARER`).
    pub fn accepted(&self, mechanism: &str) -> usize {
        self.accepted
            .lock()
            .expect("counts")
            .get(mechanism)
            .copied()
            .unwrap_or(0)
    }

    /// Starts a broker and the front that demands one of `mechanisms` over TLS (MSK enables
    /// SCRAM and IAM side by side).
    pub async fn start(mechanisms: Vec<Sasl>) -> Self {
        let mechanisms = Arc::new(mechanisms);
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, tls) = certificates(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let front = listener.local_addr().expect("address");
        let broker_port = free_port();
        let broker = Command::new(local_aws().tansu)
            .args(["broker", "--listener-url"])
            .arg(format!("tcp://127.0.0.1:{broker_port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://{front}"))
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let upstream: SocketAddr = format!("127.0.0.1:{broker_port}").parse().expect("address");
        let started = std::time::Instant::now();
        while TcpStream::connect(upstream).await.is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "tansu did not listen"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (accepted, refused): (Accepted, Arc<AtomicUsize>) = Default::default();
        let counts = (Arc::clone(&accepted), Arc::clone(&refused));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (tls, mechanisms, counts) =
                    (tls.clone(), Arc::clone(&mechanisms), counts.clone());
                tokio::spawn(async move {
                    let Ok(client) = tls.accept(client).await else {
                        counts.1.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let _ = serve(client, upstream, &mechanisms, &counts).await;
                });
            }
        });
        Self {
            brokers: front.to_string(),
            ca,
            accepted,
            refused,
            broker,
            accept,
            _dir: dir,
        }
    }
}

/// A certificate authority and the front's certificate (for 127.0.0.1), made with openssl;
/// the CA's PEM file and the front's TLS acceptor.
fn certificates(dir: &std::path::Path) -> (PathBuf, tokio_rustls::TlsAcceptor) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=MSK test CA",
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "front.key",
                "-out",
                "front.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("front.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions written");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "front.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "front.pem",
        "-days",
        "2",
        "-extfile",
        "front.ext",
    ]);
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_file(dir.join("front.pem")).expect("certificate")];
    let key = PrivateKeyDer::from_pem_file(dir.join("front.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("certificate and key");
    (
        dir.join("ca.pem"),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

const API_VERSIONS: i16 = 18;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// One connection: API versions answered by the broker (with the SASL requests added), the
/// SASL exchange answered here, nothing else before it succeeds; then bytes both ways.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    upstream: SocketAddr,
    mechanisms: &[Sasl],
    (accepted, refused): &(Accepted, Arc<AtomicUsize>),
) -> std::io::Result<()> {
    let mut broker = TcpStream::connect(upstream).await?;
    let mut scram = None;
    let mut chosen: Option<&Sasl> = None;
    loop {
        let frame = read_frame(&mut client).await?;
        let mut request = Reader(&frame);
        let (api_key, version, correlation) = (request.i16()?, request.i16()?, request.i32()?);
        request.string()?; // the client id
        match api_key {
            API_VERSIONS => {
                write_frame(&mut broker, &frame).await?;
                let answer = read_frame(&mut broker).await?;
                write_frame(&mut client, &with_sasl_apis(&answer, version)?).await?;
            }
            SASL_HANDSHAKE => {
                let asked = request.string()?.unwrap_or_default();
                chosen = mechanisms.iter().find(|m| m.mechanism() == asked);
                let error = if chosen.is_some() {
                    0
                } else {
                    UNSUPPORTED_SASL_MECHANISM
                };
                let mut answer = correlation.to_be_bytes().to_vec();
                answer.extend(error.to_be_bytes());
                answer.extend(i32::try_from(mechanisms.len()).expect("few").to_be_bytes());
                for offered in mechanisms {
                    put_string(&mut answer, Some(offered.mechanism()));
                }
                write_frame(&mut client, &answer).await?;
                if error != 0 {
                    refused.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
            }
            SASL_AUTHENTICATE => {
                let bytes = request.bytes()?;
                let step = match chosen {
                    None => Err("no mechanism was chosen".to_owned()),
                    Some(Sasl::Scram { user, password }) => {
                        scram_step(&mut scram, user, password, &bytes)
                    }
                    Some(Sasl::MskIam {
                        access_key,
                        secret,
                        region,
                    }) => oauthbearer(&bytes)
                        .and_then(|token| verify_token(&token, access_key, secret, region))
                        .map(|()| (Vec::new(), true)),
                };
                let mut answer = correlation.to_be_bytes().to_vec();
                let (error, message, reply, done) = match step {
                    Ok((reply, done)) => (0i16, None, reply, done),
                    Err(why) => (SASL_AUTHENTICATION_FAILED, Some(why), Vec::new(), false),
                };
                answer.extend(error.to_be_bytes());
                put_string(&mut answer, message.as_deref());
                answer.extend(i32::try_from(reply.len()).expect("small").to_be_bytes());
                answer.extend(&reply);
                if version >= 1 {
                    answer.extend(0i64.to_be_bytes()); // no session lifetime
                }
                write_frame(&mut client, &answer).await?;
                if error != 0 {
                    refused.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                if let (true, Some(mechanism)) = (done, chosen) {
                    *accepted
                        .lock()
                        .expect("counts")
                        .entry(mechanism.mechanism())
                        .or_default() += 1;
                    break;
                }
            }
            _ => {
                // A broker with SASL listeners answers nothing before authentication.
                refused.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
        }
    }
    tokio::io::copy_bidirectional(&mut client, &mut broker).await?;
    Ok(())
}

async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let size = stream.read_i32().await?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= 16 << 20)
        .ok_or_else(|| std::io::Error::other("bad frame size"))?;
    let mut frame = vec![0; size];
    stream.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame(stream: &mut (impl AsyncWrite + Unpin), frame: &[u8]) -> std::io::Result<()> {
    stream
        .write_all(&i32::try_from(frame.len()).expect("small").to_be_bytes())
        .await?;
    stream.write_all(frame).await?;
    stream.flush().await
}

fn put_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.extend((-1i16).to_be_bytes()),
        Some(text) => {
            out.extend(i16::try_from(text.len()).expect("short").to_be_bytes());
            out.extend(text.as_bytes());
        }
    }
}

/// Reads Kafka's primitive types.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> std::io::Result<&[u8]> {
        if self.0.len() < n {
            return Err(std::io::Error::other("short frame"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i16(&mut self) -> std::io::Result<i16> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> std::io::Result<i32> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn uvarint(&mut self) -> std::io::Result<u64> {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }
    fn string(&mut self) -> std::io::Result<Option<String>> {
        let length = self.i16()?;
        let Ok(length) = usize::try_from(length) else {
            return Ok(None);
        };
        Ok(Some(
            String::from_utf8_lossy(self.take(length)?).into_owned(),
        ))
    }
    fn bytes(&mut self) -> std::io::Result<Vec<u8>> {
        let length = usize::try_from(self.i32()?).map_err(std::io::Error::other)?;
        Ok(self.take(length)?.to_vec())
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).expect("7 bits") | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).expect("7 bits"));
}

/// The broker's ApiVersions answer with SaslHandshake and SaslAuthenticate (versions 0 to 1)
/// among the APIs, as a broker with SASL listeners lists them.
fn with_sasl_apis(answer: &[u8], version: i16) -> std::io::Result<Vec<u8>> {
    let mut reader = Reader(answer);
    let correlation = reader.i32()?;
    let error = reader.i16()?;
    if error != 0 {
        return Ok(answer.to_vec());
    }
    let flexible = version >= 3;
    let count = if flexible {
        usize::try_from(reader.uvarint()?.saturating_sub(1)).map_err(std::io::Error::other)?
    } else {
        usize::try_from(reader.i32()?).map_err(std::io::Error::other)?
    };
    let mut apis = Vec::new();
    for _ in 0..count {
        let (key, min, max) = (reader.i16()?, reader.i16()?, reader.i16()?);
        if flexible {
            for _ in 0..reader.uvarint()? {
                reader.uvarint()?;
                let size = usize::try_from(reader.uvarint()?).map_err(std::io::Error::other)?;
                reader.take(size)?;
            }
        }
        if key != SASL_HANDSHAKE && key != SASL_AUTHENTICATE {
            apis.push((key, min, max));
        }
    }
    apis.extend([(SASL_HANDSHAKE, 0, 1), (SASL_AUTHENTICATE, 0, 1)]);
    let mut out = correlation.to_be_bytes().to_vec();
    out.extend(error.to_be_bytes());
    if flexible {
        put_uvarint(&mut out, u64::try_from(apis.len() + 1).expect("small"));
    } else {
        out.extend(i32::try_from(apis.len()).expect("small").to_be_bytes());
    }
    for (key, min, max) in apis {
        out.extend(key.to_be_bytes());
        out.extend(min.to_be_bytes());
        out.extend(max.to_be_bytes());
        if flexible {
            out.push(0); // no tagged fields
        }
    }
    out.extend(reader.0); // the throttle time and the tagged fields, as the broker sent them
    Ok(out)
}

/// HMAC (RFC 2104) over `D`, whose block is `block` bytes.
fn hmac<D: Digest>(block: usize, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut key = if key.len() > block {
        D::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    key.resize(block, 0);
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = D::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    D::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn hmac_sha512(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::<Sha512>(128, key, message)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::<Sha256>(64, key, message)
}

const SCRAM_SALT: &[u8] = b"msk-front-salt";
const SCRAM_ITERATIONS: u32 = 4096;

/// What the server remembers between the two SCRAM messages: the client's first message
/// (bare), its own first message and the combined nonce.
struct ScramState {
    client_first: String,
    server_first: String,
    nonce: String,
}

/// One step of SCRAM-SHA-512 (RFC 5802) as the server: `(reply, authenticated)`.
fn scram_step(
    state: &mut Option<ScramState>,
    user: &str,
    password: &str,
    message: &[u8],
) -> Result<(Vec<u8>, bool), String> {
    let message = std::str::from_utf8(message).map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    match state.take() {
        None => {
            let bare = message
                .strip_prefix("n,,")
                .ok_or("no GS2 header `n,,`")?
                .to_owned();
            let field = |name: &str| {
                bare.split(',')
                    .find_map(|f| f.strip_prefix(name))
                    .map(str::to_owned)
            };
            if field("n=").as_deref() != Some(user) {
                return Err("unknown user".into());
            }
            let nonce = format!(
                "{}{}",
                field("r=").ok_or("no nonce")?,
                uuid::Uuid::new_v4().simple()
            );
            let server_first = format!(
                "r={nonce},s={},i={SCRAM_ITERATIONS}",
                b64.encode(SCRAM_SALT)
            );
            let reply = server_first.clone().into_bytes();
            *state = Some(ScramState {
                client_first: bare,
                server_first,
                nonce,
            });
            Ok((reply, false))
        }
        Some(ScramState {
            client_first,
            server_first,
            nonce,
        }) => {
            let (without_proof, proof) = message.rsplit_once(",p=").ok_or("no proof")?;
            if !without_proof.starts_with("c=biws,")
                || !without_proof.contains(&format!("r={nonce}"))
            {
                return Err("the channel binding or the nonce is wrong".into());
            }
            let proof = b64.decode(proof).map_err(|e| e.to_string())?;
            // PBKDF2-HMAC-SHA-512, one block.
            let mut round = hmac_sha512(
                password.as_bytes(),
                &[SCRAM_SALT, &1u32.to_be_bytes()].concat(),
            );
            let mut salted = round.clone();
            for _ in 1..SCRAM_ITERATIONS {
                round = hmac_sha512(password.as_bytes(), &round);
                salted.iter_mut().zip(&round).for_each(|(s, r)| *s ^= r);
            }
            let client_key = hmac_sha512(&salted, b"Client Key");
            let auth_message = format!("{client_first},{server_first},{without_proof}");
            let signature = hmac_sha512(&Sha512::digest(&client_key), auth_message.as_bytes());
            let expected: Vec<u8> = client_key
                .iter()
                .zip(&signature)
                .map(|(k, s)| k ^ s)
                .collect();
            if proof != expected {
                return Err("the proof does not match the password".into());
            }
            let server_key = hmac_sha512(&salted, b"Server Key");
            let verifier = hmac_sha512(&server_key, auth_message.as_bytes());
            Ok((format!("v={}", b64.encode(verifier)).into_bytes(), true))
        }
    }
}

/// The token of an OAUTHBEARER client message (RFC 7628): `n,,\x01auth=Bearer TOKEN\x01\x01`.
fn oauthbearer(message: &[u8]) -> Result<String, String> {
    let message = std::str::from_utf8(message).map_err(|e| e.to_string())?;
    message
        .split('\u{1}')
        .find_map(|kv| kv.strip_prefix("auth=Bearer "))
        .map(str::to_owned)
        .ok_or_else(|| "no bearer token".into())
}

/// AWS's URI encoding: every byte but the unreserved ones as `%XX`.
fn aws_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Checks an MSK IAM token as MSK does: a base64url `kafka-cluster:Connect` URL presigned with
/// SigV4 by `access_key` for `region`, unexpired, whose signature `secret` reproduces.
pub fn verify_token(
    token: &str,
    access_key: &str,
    secret: &str,
    region: &str,
) -> Result<(), String> {
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|e| format!("not base64url: {e}"))?;
    let url = reqwest::Url::parse(std::str::from_utf8(&url).map_err(|e| e.to_string())?)
        .map_err(|e| format!("not a URL: {e}"))?;
    let host = format!("kafka.{region}.amazonaws.com");
    if url.scheme() != "https" || url.host_str() != Some(host.as_str()) || url.path() != "/" {
        return Err(format!("not a URL of {host}"));
    }
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or(format!("no {name}"))
    };
    if param("Action")? != "kafka-cluster:Connect"
        || param("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256"
    {
        return Err("not a SigV4 kafka-cluster:Connect request".into());
    }
    let date = param("X-Amz-Date")?;
    let signed_at = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|e| format!("bad X-Amz-Date: {e}"))?
        .and_utc();
    let expires: i64 = param("X-Amz-Expires")?
        .parse()
        .map_err(|_| "bad X-Amz-Expires")?;
    let now = chrono::Utc::now();
    if signed_at > now + chrono::Duration::minutes(5)
        || signed_at + chrono::Duration::seconds(expires) < now
        || expires > 900
    {
        return Err("the token is expired or not yet valid".into());
    }
    let day = &date[..8];
    let scope = format!("{day}/{region}/kafka-cluster/aws4_request");
    if param("X-Amz-Credential")? != format!("{access_key}/{scope}") {
        return Err("the credential is not the expected key and scope".into());
    }
    if param("X-Amz-SignedHeaders")? != "host" {
        return Err("only the host header is signed".into());
    }
    let mut canonical: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature" && k != "User-Agent")
        .map(|(k, v)| (aws_encode(k), aws_encode(v)))
        .collect();
    canonical.sort();
    let query: Vec<String> = canonical.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let request = format!(
        "GET\n/\n{}\nhost:{host}\n\nhost\n{:x}",
        query.join("&"),
        Sha256::digest(b"")
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{:x}",
        Sha256::digest(request.as_bytes())
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [day, region, "kafka-cluster", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature: String = hmac_sha256(&key, to_sign.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if param("X-Amz-Signature")? != signature {
        return Err("the signature does not match".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use storefront_gateway::feeds::msk_iam::MskIamSigner;

    fn token(secret: &str) -> String {
        MskIamSigner::with_credentials(
            "eu-west-1",
            Credentials::new("AKIDFRONT", secret, None, None, "test"),
        )
        .token()
        .expect("signed")
        .value
    }

    #[test]
    fn the_front_accepts_a_token_signed_with_the_key_and_refuses_any_other() {
        assert_eq!(
            verify_token(&token("right"), "AKIDFRONT", "right", "eu-west-1"),
            Ok(())
        );
        assert_eq!(
            verify_token(&token("wrong"), "AKIDFRONT", "right", "eu-west-1"),
            Err("the signature does not match".into())
        );
        assert!(verify_token(&token("right"), "AKIDOTHER", "right", "eu-west-1").is_err());
        assert!(verify_token(&token("right"), "AKIDFRONT", "right", "us-east-1").is_err());
        assert!(verify_token("bm90IGEgdXJs", "AKIDFRONT", "right", "eu-west-1").is_err());
    }
}
