//! Signed artifacts: a module's `.wasm` file is identified by its sha256 and
//! signed with an ed25519 key. A gateway given trusted public keys runs only
//! artifacts signed by one of them; everything else is refused with the
//! reason, before it is compiled.
//!
//! - A key pair is two files: `NAME.key` (the 32-byte secret seed, base64,
//!   readable by its owner only) and `NAME.pub` (the 32-byte public key,
//!   base64). `ganglion key gen` makes them.
//! - A signature sits beside the artifact as `FILE.sig`, JSON:
//!   `{"digest": "sha256:<hex>", "key": "<public key, base64>",
//!   "signature": "<base64>"}`, the signature being over the digest's text.
//!   `ganglion module sign` makes it.

pub mod pushed;
pub mod upload;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why an artifact, a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// No signature file beside the artifact.
    #[error("{artifact}: unsigned (no {signature}), and this gateway runs only signed artifacts")]
    Unsigned {
        /// The artifact.
        artifact: String,
        /// Where its signature should be.
        signature: String,
    },
    /// Signed, by a key this gateway does not trust.
    #[error("{artifact}: signed by key {key}, which this gateway does not trust")]
    UnknownKey {
        /// The artifact.
        artifact: String,
        /// The key, base64.
        key: String,
    },
    /// The bytes are not what was signed.
    #[error("{artifact}: its digest is {actual}, but the signature is for {signed}")]
    DigestMismatch {
        /// The artifact.
        artifact: String,
        /// The digest of the bytes.
        actual: String,
        /// The digest the signature names.
        signed: String,
    },
    /// The signature does not verify.
    #[error("{artifact}: the signature does not verify with key {key}")]
    BadSignature {
        /// The artifact.
        artifact: String,
        /// The key, base64.
        key: String,
    },
    /// A file could not be read or written, or does not parse.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn file_error(path: &Path, reason: impl ToString) -> ArtifactError {
    ArtifactError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// A signature file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// `sha256:<hex>` of the artifact.
    pub digest: String,
    /// The signer's public key, base64.
    pub key: String,
    /// The ed25519 signature over `digest`'s text, base64.
    pub signature: String,
}

/// Where the signature of `artifact` is kept: `artifact` + `.sig`.
pub fn signature_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

fn decode_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = B64
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "an ed25519 key has 32 bytes".to_string())
}

/// Reads a public key file (`NAME.pub`).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, ArtifactError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let bytes = decode_key(&text).map_err(|e| file_error(path, e))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| file_error(path, e))
}

/// Reads every `*.pub` file in `dir`: the keys a gateway trusts.
pub fn read_trusted_keys(dir: &Path) -> Result<Vec<VerifyingKey>, ArtifactError> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, e))?;
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| file_error(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "pub") {
            keys.push(read_public_key(&path)?);
        }
    }
    if keys.is_empty() {
        return Err(file_error(dir, "holds no trusted key (*.pub)"));
    }
    Ok(keys)
}

/// Makes a key pair: `dir/NAME.key` (owner-readable only) and `dir/NAME.pub`,
/// making `dir` if it is missing.
pub fn generate_key(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), ArtifactError> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| file_error(Path::new("/dev/urandom"), e))?;
    let key = SigningKey::from_bytes(&seed);
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for path in [&secret, &public] {
        if path.exists() {
            return Err(file_error(path, "already exists; not overwritten"));
        }
    }
    write_private(&secret, &B64.encode(seed))?;
    std::fs::write(
        &public,
        format!("{}\n", B64.encode(key.verifying_key().to_bytes())),
    )
    .map_err(|e| file_error(&public, e))?;
    Ok((secret, public))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<(), ArtifactError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| writeln!(f, "{text}"))
        .map_err(|e| file_error(path, e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<(), ArtifactError> {
    std::fs::write(path, format!("{text}\n")).map_err(|e| file_error(path, e))
}

/// Signs `artifact` with the secret key in `key_file`, writing `artifact.sig`.
pub fn sign(artifact: &Path, key_file: &Path) -> Result<SignatureFile, ArtifactError> {
    let text = std::fs::read_to_string(key_file).map_err(|e| file_error(key_file, e))?;
    let seed = decode_key(&text).map_err(|e| file_error(key_file, e))?;
    let key = SigningKey::from_bytes(&seed);
    let bytes = std::fs::read(artifact).map_err(|e| file_error(artifact, e))?;
    let digest = digest(&bytes);
    let signature: Signature = key.sign(digest.as_bytes());
    let file = SignatureFile {
        digest,
        key: B64.encode(key.verifying_key().to_bytes()),
        signature: B64.encode(signature.to_bytes()),
    };
    let path = signature_path(artifact);
    let json = serde_json::to_string_pretty(&file).map_err(|e| file_error(&path, e))?;
    std::fs::write(&path, json + "\n").map_err(|e| file_error(&path, e))?;
    Ok(file)
}

/// Checks that `bytes` (the artifact at `artifact`) carry a good signature
/// by one of `trusted`, read from `artifact.sig`.
pub fn verify(
    artifact: &Path,
    bytes: &[u8],
    trusted: &[VerifyingKey],
) -> Result<(), ArtifactError> {
    let sig_path = signature_path(artifact);
    let text = match std::fs::read_to_string(&sig_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(file_error(&sig_path, e)),
    };
    verify_signature(
        &artifact.display().to_string(),
        bytes,
        text.as_deref(),
        &sig_path.display().to_string(),
        trusted,
    )
}

/// Checks that `bytes` (the artifact called `name`) carry a good signature
/// by one of `trusted`: `signature` is the signature file's text, found at
/// `signature_source` (named in errors), or `None` if there is none.
pub fn verify_signature(
    name: &str,
    bytes: &[u8],
    signature: Option<&str>,
    signature_source: &str,
    trusted: &[VerifyingKey],
) -> Result<(), ArtifactError> {
    let name = name.to_string();
    let Some(text) = signature else {
        return Err(ArtifactError::Unsigned {
            artifact: name,
            signature: signature_source.to_string(),
        });
    };
    let source_error = |reason: String| ArtifactError::File {
        path: signature_source.to_string(),
        reason,
    };
    let file: SignatureFile =
        serde_json::from_str(text).map_err(|e| source_error(e.to_string()))?;
    let key_bytes = decode_key(&file.key).map_err(|e| source_error(format!("key: {e}")))?;
    let Some(key) = trusted.iter().find(|k| k.to_bytes() == key_bytes) else {
        return Err(ArtifactError::UnknownKey {
            artifact: name,
            key: file.key,
        });
    };
    let actual = digest(bytes);
    if actual != file.digest {
        return Err(ArtifactError::DigestMismatch {
            artifact: name,
            actual,
            signed: file.digest,
        });
    }
    let signature = B64
        .decode(file.signature.trim())
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok());
    match signature {
        Some(s) if key.verify_strict(file.digest.as_bytes(), &s).is_ok() => Ok(()),
        _ => Err(ArtifactError::BadSignature {
            artifact: name,
            key: file.key,
        }),
    }
}

/// The sha256 of `bytes`, as `sha256:<hex>`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
