//! `arbiter audit verify TRAIL`, `arbiter audit show TRAIL PROPOSAL_ID` and
//! `arbiter audit export NATS_URL FILE`. A trail is a file, or the replicated trail of
//! `serve --replica` on a NATS server (`nats://…`), which is read into a file first: the same
//! checks and the same story either way.

use anyhow::Context;
use arbiter::audit::{narrative, verify as check, verify_from_first, AuditError, Verified};
use arbiter::bus::nats::Held;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An audit trail named on the command line must exist: an empty chain would verify, and a
/// mistyped path must not read as "ok".
pub fn existing(file: &Path) -> anyhow::Result<()> {
    if file.is_file() {
        Ok(())
    } else {
        anyhow::bail!("{}: no such audit trail", file.display())
    }
}

/// A trail as named: a file, or a copy of the replicated trail (removed when dropped).
pub enum Trail {
    File(PathBuf),
    Replicated {
        url: String,
        copy: PathBuf,
        held: Option<Held>,
    },
}

impl Trail {
    /// `name` is a file, or a NATS URL whose replicated trail is copied to a temporary file.
    pub fn open(name: &str) -> anyhow::Result<Trail> {
        if !is_nats_url(name) {
            let file = PathBuf::from(name);
            existing(&file)?;
            return Ok(Trail::File(file));
        }
        let dir = std::env::temp_dir().join(format!(
            "arbiter-trail-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let copy = dir.join("audit.jsonl");
        let held = export_to(name, &copy);
        if held.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(Trail::Replicated {
            url: name.to_string(),
            copy,
            held: held?,
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            Trail::File(f) => f,
            Trail::Replicated { copy, .. } => copy,
        }
    }

    /// Checks the chain: a file from its start (or what retention vouches for), a copy of
    /// the replicated trail from the first record the stream still holds.
    pub fn verify(&self) -> Result<Verified, AuditError> {
        match self {
            Trail::File(f) => check(f),
            Trail::Replicated { copy, .. } => verify_from_first(copy),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Trail::File(f) => f.display().to_string(),
            Trail::Replicated { url, .. } => format!(
                "{} on {}",
                arbiter::bus::nats::AUDIT_STREAM,
                arbiter::bus::nats::redact(url)
            ),
        }
    }
}

impl Drop for Trail {
    fn drop(&mut self) {
        if let Trail::Replicated { copy, .. } = self {
            if let Some(dir) = copy.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

pub fn is_nats_url(name: &str) -> bool {
    ["nats://", "tls://", "ws://", "wss://"]
        .iter()
        .any(|scheme| name.starts_with(scheme))
}

/// Writes the replicated trail on the server at `url` to `out` (which must not exist).
fn export_to(url: &str, out: &Path) -> anyhow::Result<Option<Held>> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("{}: cannot create", out.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let path = out.display().to_string();
    let held = runtime.block_on(async {
        let client = arbiter::bus::nats::connect(url).await?;
        let js = async_nats::jetstream::new(client);
        arbiter::bus::nats::read_replicated(&js, |text| {
            file.write_all(text.as_bytes())
                .map_err(|source| AuditError::Io {
                    path: path.clone(),
                    source,
                })
        })
        .await
        .map_err(anyhow::Error::from)
    })?;
    file.sync_all()
        .with_context(|| format!("{path}: cannot write"))?;
    Ok(held)
}

/// `arbiter audit export NATS_URL FILE`: the replicated trail in the file form, checked.
pub fn export(url: &str, out: &Path) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        is_nats_url(url),
        "`{url}` is not a NATS URL (nats://host:port): export reads the replicated trail of `serve --replica`"
    );
    let held = export_to(url, out)?;
    let Some(held) = held else {
        println!(
            "the replicated trail is empty; {} holds nothing",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    match verify_from_first(out) {
        Ok(v) => {
            println!(
                "exported records {} to {} to {}, last {}{}",
                held.first,
                held.next - 1,
                out.display(),
                v.last_hash,
                older(&held)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (AuditError::Broken { .. } | AuditError::Unreadable { .. })) => {
            eprintln!("exported to {}, but it is broken: {e}", out.display());
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// What a copy of the replicated trail lacks, said after what it holds.
fn older(held: &Held) -> String {
    if held.first > 1 {
        format!(
            " (records 1 to {} went past the stream's size limit; the replicas' files hold them)",
            held.first - 1
        )
    } else {
        String::new()
    }
}

pub fn verify(name: &str) -> anyhow::Result<ExitCode> {
    let trail = Trail::open(name)?;
    if let Trail::Replicated { held: None, .. } = &trail {
        println!("ok  {}: empty", trail.name());
        return Ok(ExitCode::SUCCESS);
    }
    match trail.verify() {
        Ok(v) => {
            println!("ok  {}: {}", trail.name(), held_text(&v, &trail));
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (AuditError::Broken { .. } | AuditError::Unreadable { .. })) => {
            eprintln!(
                "broken: {}",
                e.to_string()
                    .replace(&trail.path().display().to_string(), &trail.name())
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn held_text(v: &Verified, trail: &Trail) -> String {
    match trail {
        Trail::Replicated {
            held: Some(held), ..
        } => format!(
            "records {} to {}, last {}{}",
            v.first_seq,
            v.records,
            v.last_hash,
            older(held)
        ),
        _ if v.first_seq > 1 => format!(
            "records {} to {} (1 to {} removed by retention), last {}",
            v.first_seq,
            v.records,
            v.first_seq - 1,
            v.last_hash
        ),
        _ => format!("{} records, last {}", v.records, v.last_hash),
    }
}

pub fn show(name: &str, proposal_id: &str) -> anyhow::Result<ExitCode> {
    let trail = Trail::open(name)?;
    match narrative(trail.path(), proposal_id)? {
        Some(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("{}: no record of proposal `{proposal_id}`", trail.name());
            Ok(ExitCode::from(1))
        }
    }
}
