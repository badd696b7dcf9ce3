//! Turning chat lines into words worth learning.
//!
//! A word is a whitespace-separated token with invisible characters
//! (controls, zero-width spaces, bidirectional overrides) removed. A token
//! longer than [`MAX_WORD_CHARS`] (a URL, a paste, a flood of combining
//! marks) is not a word: it is dropped and splits the line into separate
//! runs, so the chain never learns that the words around it follow each
//! other.

/// The longest word learned, in characters.
pub const MAX_WORD_CHARS: usize = 40;

/// How many tokens of one line are looked at, per word that may be learned:
/// a line of a million dropped tokens costs no more than a few hundred.
const TOKENS_PER_WORD: usize = 4;

/// Characters removed from words: C0/C1 controls and the invisible format
/// characters that could hide text or reorder it on screen. Joiners used by
/// emoji and scripts (U+200C, U+200D) are kept.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{180E}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// What a token becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum Token {
    /// A word to learn.
    Word(String),
    /// Nothing visible: ignored as if it were whitespace.
    Empty,
    /// Too long: dropped, and it splits the line.
    TooLong,
}

/// Cleans one whitespace-free token.
pub fn clean(token: &str) -> Token {
    let word: String = token.chars().filter(|c| !is_invisible(*c)).collect();
    if word.is_empty() {
        Token::Empty
    } else if word.chars().count() > MAX_WORD_CHARS {
        Token::TooLong
    } else {
        Token::Word(word)
    }
}

/// The runs of words to learn from `text`, at most `max_words` words in all.
pub fn runs(text: &str, max_words: usize) -> Vec<Vec<String>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut words = 0;
    for token in text
        .split_whitespace()
        .take(max_words.saturating_mul(TOKENS_PER_WORD))
    {
        if words >= max_words {
            break;
        }
        match clean(token) {
            Token::Word(word) => {
                run.push(word);
                words += 1;
            }
            Token::Empty => {}
            Token::TooLong => {
                if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Whether `text` is a command line (`!something`), which is never learned.
pub fn is_command(text: &str) -> bool {
    text.trim_start().starts_with('!')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(runs: &[Vec<String>]) -> Vec<Vec<&str>> {
        runs.iter()
            .map(|run| run.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn splits_on_any_whitespace() {
        assert_eq!(
            words(&runs("the  cat\tsat\non the\u{3000}mat", 40)),
            [["the", "cat", "sat", "on", "the", "mat"]]
        );
        assert!(runs("   \n\t ", 40).is_empty());
    }

    #[test]
    fn invisible_characters_are_removed_and_empty_tokens_ignored() {
        assert_eq!(
            words(&runs("he\u{200B}llo \u{202E}\u{202E} wor\u{7}ld", 40)),
            [["hello", "world"]]
        );
        // Emoji sequences keep their joiner.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(words(&runs(family, 40)), [[family]]);
    }

    #[test]
    fn a_long_token_is_dropped_and_splits_the_line() {
        let url = format!("https://example.org/{}", "x".repeat(40));
        let zalgo = format!("z{}", "\u{0301}".repeat(60));
        let text = format!("see {url} for more {zalgo} ok");
        assert_eq!(
            words(&runs(&text, 40)),
            vec![vec!["see"], vec!["for", "more"], vec!["ok"]]
        );
        assert!(runs(&"y".repeat(1 << 20), 40).is_empty());
    }

    #[test]
    fn at_most_max_words_are_taken() {
        let text = "a b c d e f";
        assert_eq!(words(&runs(text, 4)), [["a", "b", "c", "d"]]);
        assert!(runs(text, 0).is_empty());
        let many = "w ".repeat(100_000);
        assert_eq!(runs(&many, 40)[0].len(), 40);
    }

    #[test]
    fn forty_characters_is_still_a_word() {
        let word = "é".repeat(MAX_WORD_CHARS);
        assert_eq!(clean(&word), Token::Word(word.clone()));
        assert_eq!(clean(&format!("{word}é")), Token::TooLong);
    }

    #[test]
    fn commands_are_recognised_after_leading_whitespace() {
        assert!(is_command("!markov"));
        assert!(is_command("  !quote add x"));
        assert!(!is_command("hello !markov"));
    }
}
