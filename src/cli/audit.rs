//! `arbiter audit verify FILE` and `arbiter audit show FILE PROPOSAL_ID`.

use arbiter::audit::{narrative, verify as check, AuditError};
use std::path::Path;
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

pub fn verify(file: &Path) -> anyhow::Result<ExitCode> {
    existing(file)?;
    match check(file) {
        Ok(v) if v.first_seq > 1 => {
            println!(
                "ok  {}: records {} to {} (1 to {} removed by retention), last {}",
                file.display(),
                v.first_seq,
                v.records,
                v.first_seq - 1,
                v.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(v) => {
            println!(
                "ok  {}: {} records, last {}",
                file.display(),
                v.records,
                v.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (AuditError::Broken { .. } | AuditError::Unreadable { .. })) => {
            eprintln!("broken: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn show(file: &Path, proposal_id: &str) -> anyhow::Result<ExitCode> {
    existing(file)?;
    match narrative(file, proposal_id)? {
        Some(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("{}: no record of proposal `{proposal_id}`", file.display());
            Ok(ExitCode::from(1))
        }
    }
}
