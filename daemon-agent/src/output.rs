//! A run's captured output: timestamped lines, capped by keeping the head and the tail and
//! marking the cut, so a chatty task cannot eat the node's memory or the center's store.

use std::collections::VecDeque;

use jiff::Timestamp;

/// Lines longer than this are split, so one newline-free stream cannot grow a line unbounded.
pub const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Formats one captured line: `<RFC 3339 ms> <out|err> <text>`.
pub fn format_line(at: Timestamp, stream: Stream, text: &str) -> String {
    let tag = match stream {
        Stream::Stdout => "out",
        Stream::Stderr => "err",
    };
    format!("{} {tag} {text}\n", at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

/// Head and tail of a log within a byte cap.
#[derive(Debug)]
pub struct CappedLog {
    head: String,
    head_cap: usize,
    tail: VecDeque<String>,
    tail_bytes: usize,
    tail_cap: usize,
    cut_bytes: u64,
    cut_lines: u64,
}

impl CappedLog {
    /// Keeps about `cap` bytes: half from the start, half from the end.
    pub fn new(cap: usize) -> CappedLog {
        CappedLog {
            head: String::new(),
            head_cap: cap / 2,
            tail: VecDeque::new(),
            tail_bytes: 0,
            tail_cap: cap - cap / 2,
            cut_bytes: 0,
            cut_lines: 0,
        }
    }

    pub fn push(&mut self, line: String) {
        if self.tail.is_empty() && self.head.len() + line.len() <= self.head_cap {
            self.head.push_str(&line);
            return;
        }
        self.tail_bytes += line.len();
        self.tail.push_back(line);
        while self.tail_bytes > self.tail_cap {
            match self.tail.pop_front() {
                Some(old) => {
                    self.tail_bytes -= old.len();
                    self.cut_bytes += old.len() as u64;
                    self.cut_lines += 1;
                }
                None => break,
            }
        }
    }

    pub fn finish(self) -> String {
        let mut out = self.head;
        if self.cut_lines > 0 {
            out.push_str(&format!(
                "[cloudtask: {} lines ({} bytes) cut here: output exceeded the log cap]\n",
                self.cut_lines, self.cut_bytes
            ));
        }
        for l in self.tail {
            out.push_str(&l);
        }
        out
    }
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes; returns the complete lines (without their newline).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                out.push(String::from_utf8_lossy(&self.partial).into_owned());
                self.partial.clear();
            } else {
                self.partial.push(b);
                if self.partial.len() >= MAX_LINE {
                    out.push(String::from_utf8_lossy(&self.partial).into_owned());
                    self.partial.clear();
                }
            }
        }
        out
    }

    /// The unterminated last line, if any.
    pub fn finish(self) -> Option<String> {
        (!self.partial.is_empty()).then(|| String::from_utf8_lossy(&self.partial).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_marks_the_cut() {
        let mut log = CappedLog::new(40);
        for i in 0..100 {
            log.push(format!("line {i:03}\n"));
        }
        let out = log.finish();
        assert!(out.starts_with("line 000\nline 001\n"), "{out}");
        assert!(out.ends_with("line 098\nline 099\n"), "{out}");
        assert!(out.contains("lines ("), "{out}");
        assert!(out.len() < 200);
    }

    #[test]
    fn small_logs_are_whole() {
        let mut log = CappedLog::new(1000);
        log.push("a\n".into());
        log.push("b\n".into());
        assert_eq!(log.finish(), "a\nb\n");
    }

    #[test]
    fn splitter_caps_line_length() {
        let mut s = LineSplitter::default();
        let lines = s.feed(b"ab\ncd");
        assert_eq!(lines, ["ab"]);
        let big = vec![b'x'; MAX_LINE * 2 + 5];
        assert_eq!(s.feed(&big).len(), 2);
        assert_eq!(s.finish().map(|l| l.len()), Some(7));
    }
}
