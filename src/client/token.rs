//! `pushwire token`: mints the signed token (a JWT, HS256) that a server
//! started with `--jwt-secret` takes, from a shell: to try such a server
//! out, in scripts, in tests. An application mints its own the same way,
//! with [`pushwire::auth::write_token`].
//!
//! ```text
//! $ pushwire token --secret-file jwt.key --sub alice --read 'room.*' --write room.1
//! eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlhdCI6MT...
//! ```
//!
//! The claims signed (RFC 7519 section 4.1; times in seconds since the
//! Unix epoch, read from this machine's clock):
//!
//! ```text
//! {"sub":"alice","iat":NOW,"exp":NOW+3600,"pushwire":{"read":["room.*"],"write":["room.1"]}}
//! ```
//!
//! `iat` is now, `exp` now plus `--ttl` (an hour by default), and `nbf`
//! is written only when `--nbf` asks for it. The key is the secret's
//! bytes as the server takes them ([`crate::cli::secret`]): at least 32
//! (RFC 7518 section 3.2), one trailing newline of a file dropped. A
//! client sends the token as `Authorization: Bearer TOKEN` (`pushwire sub
//! --token`, `pushwire pub --token`) or, where it cannot set a header, as
//! `?token=TOKEN` in the URL.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use pushwire::auth::hmac::Key;
use pushwire::auth::{write_token, Claims, Patterns};

use crate::cli::{secret, secret_file, CliError};

const TOKEN_USAGE: &str = "\
Usage: pushwire token (--secret SECRET | --secret-file FILE) [OPTIONS]

Prints a signed token (JWT, HS256) on one line, for a server started with the
same --jwt-secret or --jwt-secret-file. Send it as `Authorization: Bearer TOKEN`
(pushwire sub/pub --token) or as ?token=TOKEN in the URL.

Options:
  --secret SECRET     the server's secret, at least 32 bytes (RFC 7518 section 3.2);
                      other users may see it in the process list: prefer --secret-file
  --secret-file FILE  the secret read from FILE (one trailing newline dropped)
  --sub NAME          whom the token is for (the sub claim)
  --read LIST         channel patterns it may subscribe to, comma-separated
                      (room.1, room.*, *); may be given more than once
  --write LIST        channel patterns it may publish to, the same way
  --ttl SECS          whole seconds until it expires (exp) [default: 3600]
  --nbf SECS          not valid until SECS from now (nbf; negative: in the past)
                      [default: valid at once, no nbf]
  -h, --help          print this help

Example:
  pushwire token --secret-file jwt.key --sub alice --read 'room.*' --write room.1
";

/// `--ttl` when not given: an hour.
const DEFAULT_TTL: u64 = 3600;

/// What `pushwire token` was asked for: the key and the claims, all but
/// the clock.
#[derive(Debug)]
struct Mint {
    key: Key,
    subject: Option<String>,
    read: Patterns,
    write: Patterns,
    /// Seconds from now to `exp`.
    ttl: u64,
    /// Seconds from now to `nbf`, if there is to be one.
    not_before: Option<i64>,
}

impl Mint {
    /// The claims of a token minted at `now` (seconds since the Unix
    /// epoch).
    fn claims(&self, now: u64) -> Claims {
        Claims {
            subject: self.subject.clone(),
            expires: now.saturating_add(self.ttl),
            not_before: self
                .not_before
                .map(|ahead| now.saturating_add_signed(ahead)),
            issued_at: Some(now),
            read: self.read.clone(),
            write: self.write.clone(),
        }
    }
}

/// The options `pushwire token` takes, each with a value.
enum Flag {
    Secret,
    SecretFile,
    Sub,
    Read,
    Write,
    Ttl,
    Nbf,
}

/// Adds the patterns of one `--read` or `--write` list to `to`.
fn add_patterns(to: &mut Patterns, flag: &str, list: &str) -> Result<(), CliError> {
    let patterns = Patterns::parse_list(list)
        .map_err(|e| CliError(format!("invalid value '{list}' for {flag}: {e}")))?;
    for pattern in patterns.iter() {
        to.push(pattern.clone());
    }
    Ok(())
}

/// Reads the arguments after `token`; `None` for `--help`.
fn parse_mint(args: impl IntoIterator<Item = String>) -> Result<Option<Mint>, CliError> {
    let mut args = args.into_iter();
    let mut secret_bytes = None;
    let (mut subject, mut read, mut write) = (None, Patterns::none(), Patterns::none());
    let (mut ttl, mut not_before) = (DEFAULT_TTL, None);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        if !arg.starts_with("--") {
            return Err(CliError(format!("unexpected argument '{arg}'")));
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        // Known before its value is taken: `--bogus x` is an unknown
        // option, not a missing value.
        let option = match flag.as_str() {
            "--secret" => Flag::Secret,
            "--secret-file" => Flag::SecretFile,
            "--sub" => Flag::Sub,
            "--read" => Flag::Read,
            "--write" => Flag::Write,
            "--ttl" => Flag::Ttl,
            "--nbf" => Flag::Nbf,
            _ => return Err(CliError(format!("unknown option '{flag}'"))),
        };
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| CliError(format!("{flag} needs a value")))?,
        };
        let whole = |what: &str| CliError(format!("invalid value '{value}' for {flag}: {what}"));
        match option {
            Flag::Secret => secret_bytes = Some(secret(&flag, value.into_bytes())?),
            Flag::SecretFile => secret_bytes = Some(secret_file(&flag, &value)?),
            Flag::Sub => subject = Some(value),
            Flag::Read => add_patterns(&mut read, &flag, &value)?,
            Flag::Write => add_patterns(&mut write, &flag, &value)?,
            Flag::Ttl => {
                ttl = match value.parse::<u64>() {
                    Ok(0) | Err(_) => return Err(whole("expected whole seconds, at least 1")),
                    Ok(secs) => secs,
                }
            }
            Flag::Nbf => {
                not_before = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| whole("expected whole seconds, like 60 or -30"))?,
                )
            }
        }
    }
    let secret_bytes = secret_bytes
        .ok_or_else(|| CliError("the secret is missing: --secret or --secret-file".into()))?;
    Ok(Some(Mint {
        key: Key::new(&secret_bytes),
        subject,
        read,
        write,
        ttl,
        not_before,
    }))
}

/// `pushwire token ...`
pub fn token_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let mint = match parse_mint(args) {
        Ok(Some(mint)) => mint,
        Ok(None) => {
            print!("{TOKEN_USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pushwire token: {e}\nTry 'pushwire token --help' for the options.");
            return ExitCode::from(2);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let token = write_token(&mint.key, &mint.claims(now));
    // `writeln!`, not `println!`: a reader that went away (`| head -c 0`)
    // is an exit status, not a panic.
    match writeln!(io::stdout(), "{token}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushwire token: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn parse(args: &[&str]) -> Result<Option<Mint>, CliError> {
        parse_mint(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn the_claims_are_the_ones_asked_for_at_the_time_given() {
        let mint = parse(&[
            "--secret",
            SECRET,
            "--sub",
            "alice",
            "--read",
            "room.*, news",
            "--read=lobby",
            "--write",
            "room.1",
            "--ttl",
            "60",
            "--nbf=-30",
        ])
        .unwrap()
        .unwrap();
        let claims = mint.claims(1_700_000_000);
        assert_eq!(
            claims,
            Claims {
                subject: Some("alice".into()),
                expires: 1_700_000_060,
                not_before: Some(1_699_999_970),
                issued_at: Some(1_700_000_000),
                read: Patterns::parse_list("room.*,news,lobby").unwrap(),
                write: Patterns::parse_list("room.1").unwrap(),
            }
        );
        let token = write_token(&Key::new(SECRET.as_bytes()), &claims);
        assert_eq!(
            pushwire::auth::read_token(token.as_bytes(), &mint.key, 4096),
            Ok(claims)
        );
    }

    #[test]
    fn defaults_are_an_hour_no_nbf_no_subject_no_channel() {
        let mint = parse(&["--secret", SECRET]).unwrap().unwrap();
        let claims = mint.claims(10);
        assert_eq!(
            (claims.expires, claims.not_before, claims.issued_at),
            (3610, None, Some(10))
        );
        assert!(claims.subject.is_none() && claims.read.is_empty() && claims.write.is_empty());
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (args, needle) in [
            (&["--sub", "a"][..], "the secret is missing"),
            (&["--secret", "short"], "RFC 7518 section 3.2"),
            (&["--secret", SECRET, "--ttl", "0"], "for --ttl"),
            (&["--secret", SECRET, "--ttl", "soon"], "for --ttl"),
            (&["--secret", SECRET, "--nbf", "1.5"], "for --nbf"),
            (&["--secret", SECRET, "--read", "ro*m"], "for --read"),
            (&["--secret", SECRET, "--write"], "--write needs a value"),
            (
                &["--secret", SECRET, "--exp", "1"],
                "unknown option '--exp'",
            ),
            (
                &["--secret", SECRET, "extra"],
                "unexpected argument 'extra'",
            ),
            (
                &["--secret-file", "/nonexistent/pushwire"],
                "cannot read --secret-file",
            ),
        ] {
            let error = parse(args).unwrap_err().0;
            assert!(error.contains(needle), "{args:?}: {error}");
        }
    }
}
