//! The user database and the credential switch of `capture -Z USER`: who a user is
//! (`getpwnam_r`, through NSS), and becoming that user for good.

use std::ffi::CString;
use std::io;

/// A user account for `-Z`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks `name` up in the user database (files, LDAP, ... through NSS); `Ok(None)` if absent.
pub fn lookup_user(name: &str) -> io::Result<Option<Account>> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..4 {
        // SAFETY: passwd is plain data; all-zero is valid before getpwnam_r fills it.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings getpwnam_r stores point into
        // `buf`, which we do not read (only uid and gid are copied out).
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(if result.is_null() {
            None
        } else {
            Some(Account {
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
            })
        });
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

/// Becomes `account`: supplementary groups cleared to its group, then gid, then uid (this
/// order: after setuid we could no longer change groups). Irreversible.
pub fn become_user(account: &Account) -> io::Result<()> {
    let groups = [account.gid as libc::gid_t];
    // SAFETY: `groups` holds one valid gid for the duration of the call.
    if unsafe { libc::setgroups(1, groups.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call on integers.
    if unsafe { libc::setgid(account.gid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call on integers.
    if unsafe { libc::setuid(account.uid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
