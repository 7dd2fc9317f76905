//! `arbiter suite`: the quality suite, one line per case.

use arbiter::sim::suite;
use std::process::ExitCode;

pub fn run(quick: bool, keep: Option<std::path::PathBuf>) -> anyhow::Result<ExitCode> {
    let repo = std::env::current_dir()?;
    if !repo.join("intents").is_dir() || !repo.join("scenarios/online-boutique").is_dir() {
        anyhow::bail!(
            "arbiter suite builds its cases from intents/ and scenarios/online-boutique/ in the current directory ({}): run it from the repository's root",
            repo.display()
        );
    }
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("arbiter-suite-{}", std::process::id()))
    });
    let mut rows = Vec::new();
    for case in suite::cases(quick) {
        let budget = case.budget.as_str();
        eprintln!("{} / {} / budget {budget}", case.topology, case.day);
        let report = suite::run(&case, &repo, &dir)?;
        rows.push((case, report));
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    print!("{}\n{}", suite::table(&rows), suite::summary(&rows));
    Ok(ExitCode::SUCCESS)
}
