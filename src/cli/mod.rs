//! One module per subcommand: read files, call the library, print.

pub mod audit;
pub mod check;
pub mod decide;
pub mod loadgen;
pub mod replay;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod suite;

/// Loads an intents directory, or fails with every problem in it, one per line.
pub fn load_intents(dir: &std::path::Path) -> anyhow::Result<arbiter::intent::LoadedDir> {
    arbiter::intent::load_dir(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("intents are not valid:\n{}", lines.join("\n"))
    })
}
