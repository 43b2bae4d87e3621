//! The server operator's console: reads typed replies and `/` commands, sends replies to the
//! last sender or a chosen peer; knows nothing of terminals beyond the prompt it redraws.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::chat::MAX_PEERS;
use crate::chat::text;

/// Help shown by `/help` and when the console starts.
pub const HELP: &str = "Type a line to send it to the last sender. Commands: /peers lists who sent \
something, /to IP:PORT or /to N picks a peer, /to last goes back to the last sender, //text sends \
\"/text\".";

/// A cloneable handle shared by the receive loop (which reports senders and prints lines)
/// and the thread reading the operator's input.
#[derive(Clone, Debug)]
pub struct Console {
    prompt: String,
    redraw: bool,
    state: Arc<Mutex<Audience>>,
}

/// Who the operator can answer: UDP gives the server no list of clients, only the source
/// address of each datagram it received.
#[derive(Debug, Default)]
struct Audience {
    last_sender: Option<SocketAddr>,
    chosen: Option<SocketAddr>,
    known: Vec<SocketAddr>,
    at_prompt: bool,
    /// Replies typed at the prompt, per destination (at most [`MAX_PEERS`] of them; replies
    /// to further destinations are not told apart), for the server's summary.
    typed: HashMap<SocketAddr, TypedReplies>,
}

/// Replies the operator typed to one destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypedReplies {
    /// Replies the socket sent.
    pub sent: u64,
    /// Replies the socket refused to send.
    pub failed: u64,
}

impl Audience {
    fn target(&self) -> Option<SocketAddr> {
        self.chosen.or(self.last_sender)
    }
}

impl Console {
    /// A console showing `prompt`. With `redraw` (output is a terminal), a line printed while
    /// the prompt is shown clears the prompt line first and shows the prompt again after it.
    pub fn new(prompt: impl Into<String>, redraw: bool) -> Self {
        Self {
            prompt: prompt.into(),
            redraw,
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, Audience> {
        // A panic while holding the lock cannot leave `Audience` inconsistent: every field
        // is written in one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that a datagram came from `from`: it becomes the last sender.
    pub fn heard(&self, from: SocketAddr) {
        let mut state = self.state();
        state.last_sender = Some(from);
        if !state.known.contains(&from) && state.known.len() < MAX_PEERS {
            state.known.push(from);
        }
    }

    /// Where a typed line would go now: the chosen peer, else the last sender.
    pub fn target(&self) -> Option<SocketAddr> {
        self.state().target()
    }

    /// The replies typed at the prompt so far, per destination.
    pub fn typed_replies(&self) -> Vec<(SocketAddr, TypedReplies)> {
        self.state().typed.iter().map(|(a, r)| (*a, *r)).collect()
    }

    /// Counts one typed reply to `target`, sent or not.
    fn count_reply(&self, target: SocketAddr, sent: bool) {
        let mut state = self.state();
        if !state.typed.contains_key(&target) && state.typed.len() >= MAX_PEERS {
            return;
        }
        let count = state.typed.entry(target).or_default();
        if sent {
            count.sent += 1;
        } else {
            count.failed += 1;
        }
    }

    /// Writes `line` (ending in a newline) so that it does not mix with the prompt.
    pub fn print_above_prompt(&self, out: &mut impl Write, line: &str) -> io::Result<()> {
        let state = self.state();
        if state.at_prompt && self.redraw {
            // Carriage return + "erase line" (ECMA-48 EL), then the prompt again.
            write!(out, "\r\x1b[K{line}{}", self.prompt)?;
        } else {
            out.write_all(line.as_bytes())?;
        }
        out.flush()
    }

    fn say(&self, out: &mut impl Write, text: &str, prompt_after: bool) -> io::Result<()> {
        let mut state = self.state();
        writeln!(out, "{text}")?;
        if prompt_after {
            out.write_all(self.prompt.as_bytes())?;
        }
        state.at_prompt = prompt_after;
        out.flush()
    }

    /// Reads `input` line by line until its end, sending each line through `socket` to the
    /// current target or obeying a `/` command; writes prompts and feedback to `out`.
    pub fn run(
        &self,
        socket: &UdpSocket,
        mut input: impl BufRead,
        out: &mut impl Write,
    ) -> io::Result<()> {
        self.say(out, HELP, true)?;
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            self.state().at_prompt = false;
            text::strip_line_end(&mut line);
            let feedback = self.obey(socket, &line);
            self.say(out, &feedback, true)?;
        }
        self.say(
            out,
            "Console closed; still receiving (Ctrl-C stops the server).",
            false,
        )
    }

    /// Carries out one typed line and says what happened.
    fn obey(&self, socket: &UdpSocket, line: &[u8]) -> String {
        let command = std::str::from_utf8(line).unwrap_or("").trim();
        if command == "/help" {
            return HELP.to_string();
        }
        if command == "/peers" {
            let state = self.state();
            if state.known.is_empty() {
                return "No datagram has arrived yet, so no peer is known.".to_string();
            }
            let target = state.target();
            let mut list =
                String::from("Peers heard from (UDP keeps no list; these are source addresses):");
            for (n, peer) in state.known.iter().enumerate() {
                let mark = if Some(*peer) == target {
                    "  <- replies go here"
                } else {
                    ""
                };
                list.push_str(&format!("\n  {}. {peer}{mark}", n + 1));
            }
            return list;
        }
        if let Some(choice) = command.strip_prefix("/to") {
            return self.choose(choice.trim());
        }
        let payload = match line.strip_prefix(b"/") {
            Some(rest) if rest.starts_with(b"/") => rest,
            Some(_) => return format!("Unknown command {command:?}. {HELP}"),
            None => line,
        };
        let Some(target) = self.target() else {
            return "Nobody to answer yet: a UDP server learns addresses only from the datagrams \
                    it receives. Wait for one, or pick a peer with /to IP:PORT."
                .to_string();
        };
        let sent = socket.send_to(payload, target);
        self.count_reply(target, sent.is_ok());
        match sent {
            Ok(_) => format!("(sent {} to {target})", text::show_short(payload, 40)),
            Err(e) => format!("cannot send to {target}: {e}"),
        }
    }

    fn choose(&self, choice: &str) -> String {
        let mut state = self.state();
        if choice == "last" || choice.is_empty() {
            state.chosen = None;
            return match state.last_sender {
                Some(last) => format!("Replies go to the last sender, now {last}."),
                None => "Replies go to the last sender (none yet).".to_string(),
            };
        }
        let picked = match choice.parse::<usize>() {
            Ok(n) => n.checked_sub(1).and_then(|i| state.known.get(i).copied()),
            Err(_) => choice.parse::<SocketAddr>().ok(),
        };
        match picked {
            Some(peer) => {
                state.chosen = Some(peer);
                format!("Replies go to {peer} until /to last.")
            }
            None => format!("Not a peer: {choice:?} (give IP:PORT or a number from /peers)."),
        }
    }
}
