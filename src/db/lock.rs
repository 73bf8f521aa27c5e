//! An exclusive lock on the data directory: held by `serve` (and `demo`) for their lifetime,
//! so `restore` can refuse to swap the database under a running server.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Held while the process uses the data directory; released on drop or process death.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock, or says that another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
        let path = data_dir.join("sequra-bc.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!(
                "a sequra-bc server is using {} (stop it first)",
                data_dir.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(format!("cannot lock {}: {e}", path.display()))
            }
        }
    }
}
