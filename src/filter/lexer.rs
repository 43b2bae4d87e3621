//! Splits a pcap-filter expression into tokens, each with the column it starts at.

use super::FilterError;

/// One token of an expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// A word: a keyword (`udp`, `host`), or a name udpscope does not know.
    Word(String),
    /// A number: decimal, `0x` hexadecimal or `0`-prefixed octal, as libpcap reads them.
    Number(u32),
    /// A dotted IPv4 address or network (`10.1`, `192.168.100.4`).
    Ipv4(String),
    /// An IPv6 address (`fe80::1`).
    Ipv6(std::net::Ipv6Addr),
    /// Punctuation and operators: `( ) [ ] : / ! && || & | ^ + - * % << >> = != < <= > >=`.
    Symbol(&'static str),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Word(w) | Token::Ipv4(w) => f.write_str(w),
            Token::Number(n) => write!(f, "{n}"),
            Token::Ipv6(a) => write!(f, "{a}"),
            Token::Symbol(s) => f.write_str(s),
        }
    }
}

/// A token and the 1-based column of its first character in the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned {
    /// The token.
    pub token: Token,
    /// Where it starts (1-based, in characters).
    pub column: usize,
}

/// Longest first, so `<=` is not read as `<` then `=`.
const SYMBOLS: [&str; 24] = [
    "&&", "||", "<<", ">>", "!=", "<=", ">=", "==", "(", ")", "[", "]", ":", "/", "!", "&", "|",
    "^", "+", "-", "*", "%", "=", "<",
];

/// Tokens of `text`; an unknown character is a syntax error at its column.
pub fn tokens(text: &str) -> Result<Vec<Spanned>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // An IPv6 address: hex digits and at least two colons (`2:2` inside `ip[2:2]` has one).
        if c.is_ascii_hexdigit() || c == ':' {
            let end = run(&chars, i, |c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            let candidate: String = chars[i..end].iter().collect();
            if candidate.matches(':').count() >= 2
                && let Ok(addr) = candidate.parse::<std::net::Ipv6Addr>()
            {
                out.push(Spanned {
                    token: Token::Ipv6(addr),
                    column,
                });
                i = end;
                continue;
            }
        }
        if c.is_ascii_digit() {
            let end = run(&chars, i, |c| c.is_ascii_alphanumeric() || c == '.');
            let text: String = chars[i..end].iter().collect();
            let token = if text.contains('.') {
                Token::Ipv4(text)
            } else {
                Token::Number(number(&text).ok_or_else(|| FilterError::Syntax {
                    column,
                    message: format!("`{text}` is not a number"),
                })?)
            };
            out.push(Spanned { token, column });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let end = run(&chars, i, |c| {
                c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
            });
            out.push(Spanned {
                token: Token::Word(chars[i..end].iter().collect()),
                column,
            });
            i = end;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)).copied() else {
            // `>` alone is not in the table only because `>=` and `>>` must come first.
            if c == '>' {
                out.push(Spanned {
                    token: Token::Symbol(">"),
                    column,
                });
                i += 1;
                continue;
            }
            return Err(FilterError::Syntax {
                column,
                message: format!("unexpected character `{c}`"),
            });
        };
        out.push(Spanned {
            token: Token::Symbol(if symbol == "==" { "=" } else { symbol }),
            column,
        });
        i += symbol.chars().count();
    }
    Ok(out)
}

fn run(chars: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut end = from;
    while end < chars.len() && keep(chars[end]) {
        end += 1;
    }
    end
}

/// A number as libpcap's scanner reads it: `0x1f`, `017` (octal), `42`.
fn number(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        tokens(text).unwrap().into_iter().map(|s| s.token).collect()
    }

    #[test]
    fn byte_access_colon_is_not_an_ipv6_address() {
        assert_eq!(
            kinds("udp[2:2]>=0x10"),
            vec![
                Token::Word("udp".into()),
                Token::Symbol("["),
                Token::Number(2),
                Token::Symbol(":"),
                Token::Number(2),
                Token::Symbol("]"),
                Token::Symbol(">="),
                Token::Number(16),
            ]
        );
    }

    #[test]
    fn addresses_numbers_and_columns() {
        let t = tokens("host fe80::1 or net 10.1/16 && port 010").unwrap();
        assert_eq!(t[1].token, Token::Ipv6("fe80::1".parse().unwrap()));
        assert_eq!(t[4].token, Token::Ipv4("10.1".into()));
        assert_eq!(t[4].column, 21);
        assert_eq!(t[9].token, Token::Number(8));
    }
}
