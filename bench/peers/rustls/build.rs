// Records the compiler's version for the program's first note, so the note
// names the rustc that really built it (Debian's, if the documented command
// was used) rather than a hardcoded guess.
use std::env;
use std::process::Command;

fn main() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rustc (unknown version)".to_string());
    println!("cargo:rustc-env=PEER_RUSTC_VERSION={}", version);
    println!("cargo:rerun-if-env-changed=RUSTC");
}
