//! The lines of LIST (long form, like `ls -l`) and NLST (names only).
//!
//! RFC 959 leaves the LIST format to the server; clients and people expect the Unix
//! `ls -l` layout, which is what curl, lftp and browsers parse. NLST is meant for
//! programs: one name per line. Hidden names (starting with `.`) are left out, like `ls`
//! does; that also hides the temporary files of uploads in progress.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The listing of `path`: its entries if it is a directory, itself if it is a file.
/// Names are sorted; with `long`, each line is in `ls -l` form.
///
/// # Errors
/// If `path` cannot be read.
pub async fn lines(path: &Path, long: bool) -> io::Result<Vec<String>> {
    let meta = tokio::fs::metadata(path).await?;
    let mut entries = Vec::new();
    if meta.is_dir() {
        let mut dir = tokio::fs::read_dir(path).await?;
        while let Some(entry) = dir.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            // `metadata` follows links, as `ls -l` shows the target's size; a dangling
            // link is listed with its own metadata.
            let meta = match tokio::fs::metadata(entry.path()).await {
                Ok(m) => m,
                Err(_) => entry.metadata().await?,
            };
            entries.push((name, meta));
        }
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.push((name, meta));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries
        .into_iter()
        .map(
            |(name, meta)| {
                if long {
                    long_line(&name, &meta)
                } else {
                    name
                }
            },
        )
        .collect())
}

/// One `ls -l` line: `-rw-r--r-- 1 ftp ftp 1234 Nov 22 17:23 name`.
pub fn long_line(name: &str, meta: &Metadata) -> String {
    let kind = if meta.is_dir() { 'd' } else { '-' };
    let mode = meta.permissions().mode();
    let mut perms = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{kind}{perms} 1 ftp ftp {:>12} {} {name}",
        meta.len(),
        ls_date(modified, now)
    )
}

/// `ls` dates: `Nov 22 17:23` for the last six months, `Nov 22  2019` before that.
fn ls_date(secs: u64, now: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let month = MONTHS[(month - 1) as usize];
    if now.saturating_sub(secs) < 182 * 86_400 {
        let hm = secs % 86_400;
        format!("{month} {day:>2} {:02}:{:02}", hm / 3600, hm % 3600 / 60)
    } else {
        format!("{month} {day:>2}  {year}")
    }
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), in the proleptic Gregorian
/// calendar (Howard Hinnant's well-known algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
