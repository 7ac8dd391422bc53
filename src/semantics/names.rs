//! Argument rules every backend applies the same way: object names and map keys.

use crate::error::{Error, Result};

/// Longest object name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 96;

/// Longest map key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 4096;

/// True for the name of a remote region (`redis://`, `rediss://`), whether or not this
/// build has the Redis backend.
pub fn is_remote(name: &str) -> bool {
    name.starts_with("redis://") || name.starts_with("rediss://")
}

/// A region name as it may be shown: the password of a remote name (`scheme://user:
/// password@host/...`) replaced by `***` (`user:***`; a lone user name by `***`). Every
/// message, listing and binding shows names through this, with or without the Redis
/// backend in the build.
pub fn redact(name: &str) -> String {
    let Some(scheme_end) = name.find("://") else {
        return name.to_owned();
    };
    let rest = &name[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_owned()
            };
            format!("{}{shown}@{}", &name[..scheme_end + 3], &rest[at + 1..])
        }
        None => name.to_owned(),
    }
}

/// An object name is 1 to [`MAX_NAME_LEN`] bytes of UTF-8 without NUL.
pub fn check_object_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        return Err(Error::invalid(format!(
            "object name must be 1 to {MAX_NAME_LEN} bytes without NUL (got {} bytes)",
            name.len()
        )));
    }
    Ok(())
}

/// A map key is at most [`MAX_KEY_LEN`] bytes of UTF-8 (the empty key is a key).
pub fn check_key(key: &str) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::invalid(format!(
            "map key of {} bytes is longer than {MAX_KEY_LEN} bytes",
            key.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_never_carry_a_password() {
        for (name, shown) in [
            ("redis://u:secret@h/r", "redis://u:***@h/r"),
            (
                "rediss://:secret@h:6380/r?db=2",
                "rediss://:***@h:6380/r?db=2",
            ),
            ("redis://secret@h/r", "redis://***@h/r"),
            ("redis://h/r", "redis://h/r"),
            ("redis://h/a@b", "redis://h/a@b"),
            ("local-region", "local-region"),
            ("/dev/shm/plexus.x", "/dev/shm/plexus.x"),
        ] {
            assert_eq!(redact(name), shown, "{name}");
        }
    }
}
