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

/// An error and its causes on one line, each said once: a message that already ends with its
/// cause's text (`cannot read: No such file…`) is not followed by it again.
pub fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}
