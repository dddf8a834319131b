//! Records the git commit the binary is built from, for `stages-api --version`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=STAGES_API_COMMIT={commit}");
    // Rebuild the version when the branch moves (a worktree's git dir is elsewhere: ask git).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let mut watched = vec![Path::new(&dir).join("HEAD")];
        if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
            let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or(dir.clone());
            watched.push(Path::new(&common).join(branch));
        }
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
