//! A small disk of its own for an audit trail, to fill in the full-disk cases.

/// A small file system of its own for the audit trail, unmounted when the test ends.
pub struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    pub fn mount(dir: &std::path::Path, mb: u64) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "the full-disk cases mount a small tmpfs and need root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(dir.to_path_buf())
    }

    /// Writes a ballast file until the disk refuses more.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let ballast = self.0.join("ballast");
        let mut f = std::fs::File::create(&ballast).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).and_then(|()| f.sync_data()).is_ok() {}
        // Whatever is left in the last partial block goes too.
        while f
            .write_all(&[0u8; 512])
            .and_then(|()| f.sync_data())
            .is_ok()
        {}
        ballast
    }
}

impl Drop for SmallDisk {
    /// Lazily: a process still holding a file there (an arbiter a failed test left) must not
    /// keep the mount behind.
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
