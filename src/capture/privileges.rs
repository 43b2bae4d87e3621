//! Privileges of capture: whether we hold CAP_NET_RAW, the permission error with its `setcap`
//! hint, and `-Z USER` (give up root once the socket is open).

use std::fs;
use std::io;

use crate::error::{Error, Result};
use crate::sys::user;

/// Bits in the capability sets (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;

/// The effective capability set of this process (`CapEff:` in /proc); `None` when /proc
/// cannot tell.
fn effective_capabilities() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// True when the effective capability set of this process holds CAP_NET_RAW (root normally
/// does; so does a binary given it with `setcap`). `None` when /proc cannot tell.
pub fn has_net_raw() -> Option<bool> {
    Some(effective_capabilities()? & (1 << CAP_NET_RAW) != 0)
}

/// True when this process may make a network namespace and capture in it without a user
/// namespace: CAP_SYS_ADMIN (unshare), CAP_NET_ADMIN (bring its `lo` up) and CAP_NET_RAW (the
/// packet socket). Root holds them; so does a binary given them once with `setcap`, which is
/// how the demo runs where the kernel refuses unprivileged user namespaces.
pub fn can_isolate_network() -> bool {
    effective_capabilities().is_some_and(isolates)
}

/// True when the capability set `caps` holds all three capabilities [`can_isolate_network`]
/// asks for.
fn isolates(caps: u64) -> bool {
    let wanted = (1 << CAP_SYS_ADMIN) | (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW);
    caps & wanted == wanted
}

/// The error for "cannot make the demo's private network". Without the capabilities it says
/// what the kernel refused ([`user_namespace_refusal`]) and the two ways round it, with this
/// binary's path for `setcap`; with them, the kernel's reason is all there is to say.
pub fn isolation_error(privileged: bool, source: io::Error) -> Error {
    if privileged {
        return Error::System {
            what: "cannot create a private network namespace for the demo".into(),
            source,
        };
    }
    let binary = this_binary();
    let refusal = user_namespace_refusal(&source);
    Error::System {
        what: "cannot create a private network namespace for the demo".into(),
        // The errno's own text ("No space left on device") says nothing about namespaces:
        // the line ends with what the kernel refused instead, the errno kept as the cause.
        source: io::Error::new(
            source.kind(),
            Refusal {
                text: format!(
                    "{refusal}; run `sudo udpscope demo`, or once \
                     `sudo setcap cap_net_raw,cap_net_admin,cap_sys_admin=eip {binary}`"
                ),
            },
        ),
    }
}

/// What the kernel refused, in words, for an error of `unshare(CLONE_NEWUSER | CLONE_NEWNET)`
/// or of the writes to `/proc/self/{setgroups,uid_map,gid_map}` that follow it (errors as
/// listed in unshare(2) and user_namespaces(7)).
fn user_namespace_refusal(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EUSERS) => "the kernel refused to create a user namespace \
             (limit reached: user.max_user_namespaces, or 32 nested user namespaces)"
            .to_string(),
        Some(libc::EPERM) | Some(libc::EACCES) => "the kernel does not allow unprivileged users \
             to create user namespaces here (kernel.unprivileged_userns_clone=0, or Ubuntu's \
             kernel.apparmor_restrict_unprivileged_userns=1)"
            .to_string(),
        Some(libc::EINVAL) => {
            "this kernel has no user namespaces (built without CONFIG_USER_NS)".to_string()
        }
        _ => format!("the kernel refused to create a user namespace ({error})"),
    }
}

/// A refusal in words, with the errno behind it as its source.
#[derive(Debug)]
struct Refusal {
    text: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// No source: the errno's own text ("No space left on device") is what the refusal's words
/// replace on the error line (the `io::Error` around it keeps the errno's kind).
impl std::error::Error for Refusal {}

/// This binary's path, for the `setcap` commands the errors suggest.
fn this_binary() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "udpscope".to_string())
}

/// True when the effective user is root (from /proc, without a system call of our own).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// True for the errors a packet socket returns to a process without CAP_NET_RAW.
pub fn is_permission_denied(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// The error for "no permission to capture on `interface`", naming this binary for `setcap`.
pub fn permission_error(interface: &str) -> Error {
    let binary = this_binary();
    Error::Permission {
        interface: interface.to_string(),
        binary,
    }
}

/// Switches the process to `user` (its uid, primary gid, and no other groups). Call after the
/// capture socket is open and before creating output files, so they belong to `user`.
/// [`Error::NoSuchUser`] when the user database does not know `user`.
pub fn drop_to_user(user: &str) -> Result<()> {
    let account = user::lookup_user(user)
        .map_err(|source| Error::System {
            what: format!("cannot look up user {user}"),
            source,
        })?
        .ok_or_else(|| Error::NoSuchUser(user.to_string()))?;
    user::become_user(&account).map_err(|source| Error::System {
        what: format!("cannot switch to user {user}"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_all_three_capabilities_isolate_the_demo_without_a_user_namespace() {
        // CapEff of root on this kernel, and the set `setcap cap_net_raw,cap_net_admin,
        // cap_sys_admin=eip` gives.
        assert!(isolates(0x0000_01ff_ffff_ffff));
        assert!(isolates(0x0020_3000));
        // What the capture's own setcap line gives (no CAP_SYS_ADMIN), and nothing.
        assert!(!isolates(0x3000));
        assert!(!isolates(0x0020_2000));
        assert!(!isolates(0));
    }

    #[test]
    fn eperm_and_eacces_are_permission_errors_and_enodev_is_not() {
        assert!(is_permission_denied(&io::Error::from_raw_os_error(
            libc::EPERM
        )));
        assert!(is_permission_denied(&io::Error::from_raw_os_error(
            libc::EACCES
        )));
        assert!(!is_permission_denied(&io::Error::from_raw_os_error(
            libc::ENODEV
        )));
    }

    #[test]
    fn permission_error_names_cap_net_raw_and_setcap() {
        let text = permission_error("lo").to_string();
        assert!(text.contains("CAP_NET_RAW"), "{text}");
        assert!(
            text.contains("setcap cap_net_raw,cap_net_admin=eip"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_user_namespace_is_said_in_words_not_with_the_errno_text() {
        // The error line as the binary prints it: the message, then each cause once.
        let line = |e: Error| {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(inner) = cause {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                cause = inner.source();
            }
            text
        };
        let text = line(isolation_error(
            false,
            io::Error::from_raw_os_error(libc::ENOSPC),
        ));
        assert!(
            text.contains("the kernel refused to create a user namespace (limit reached: user.max_user_namespaces"),
            "{text}"
        );
        assert!(!text.contains("os error"), "{text}");
        assert!(!text.contains("No space left"), "{text}");
        let text = line(isolation_error(
            false,
            io::Error::from_raw_os_error(libc::EPERM),
        ));
        assert!(text.contains("not allow unprivileged users"), "{text}");
        assert!(text.contains("sudo udpscope demo"), "{text}");
    }

    #[test]
    fn unknown_user_is_no_such_user() {
        assert!(matches!(
            drop_to_user("no-such-user-udpscope"),
            Err(Error::NoSuchUser(user)) if user == "no-such-user-udpscope"
        ));
    }
}
