//! `arbiter check DIR`: validates every intent file and the roles, reporting every problem.

use arbiter::graph::ServiceGraph;
use arbiter::intent::load_dir;
use std::path::Path;
use std::process::ExitCode;

pub fn run(dir: &Path, graph: Option<&Path>, overlay: Option<&Path>) -> anyhow::Result<ExitCode> {
    let loaded = match load_dir(dir) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{} problem{} found",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(1));
        }
    };
    let mut warnings = Vec::new();
    if let Some(g) = graph {
        let graph = ServiceGraph::from_files(g, overlay)?;
        for i in &loaded.intents {
            for (k, slo) in i.slos.iter().enumerate() {
                if graph.index_of(&slo.service).is_none() {
                    warnings.push(format!(
                        "{}: slo[{k}].service: `{}` is not in the graph",
                        i.file, slo.service
                    ));
                }
            }
            for (k, f) in i.freezes.iter().enumerate() {
                for s in f.services.iter().flatten() {
                    if graph.index_of(s).is_none() {
                        warnings.push(format!(
                            "{}: freeze[{k}].services: `{s}` is not in the graph",
                            i.file
                        ));
                    }
                }
            }
        }
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    for i in &loaded.intents {
        let window = match i.window {
            Some((s, e)) => format!("{s} .. {e}"),
            None => "always (fallback)".to_string(),
        };
        println!("ok  {}  '{}'  {}  {}", i.file, i.name, window, i.version);
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let agents = loaded.roles.agents.len();
    println!("ok  {agents} agent role{}", plural(agents));
    let approvers = loaded.approvers.len();
    println!("ok  {approvers} approver{}", plural(approvers));
    Ok(ExitCode::SUCCESS)
}
