//! `qunbot check`: compile the configuration without starting anything.

use std::path::Path;
use std::process::ExitCode;

use qunbot::config;
use qunbot::registry::Registry;

pub(crate) fn run(path: &Path) -> anyhow::Result<ExitCode> {
    match config::load(path, &Registry::builtin()) {
        Ok(config) => {
            let plugins: usize = config.bots.iter().map(|b| b.plugins.len()).sum();
            println!(
                "{}: ok ({} adapter(s), {} bot(s), {} plugin(s))",
                path.display(),
                config.adapters.len(),
                config.bots.len(),
                plugins
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            eprintln!("{} problem(s) found", errors.len());
            Ok(ExitCode::FAILURE)
        }
    }
}
