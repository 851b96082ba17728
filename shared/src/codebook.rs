//! MERFISH codebooks: the MHD4 code, MERlin-style CSV, blank words and the
//! barcode-bit order convention.
//!
//! # Words
//!
//! A barcode is a `u16`; bit `i` (`1 << i`) is barcode bit `i`, and in CSV
//! files and ground-truth strings character `i` (0-based, left to right) is
//! barcode bit `i`.
//!
//! # The MHD4 code
//!
//! [`mhd4_words`] lists the 140 words of Hamming weight 4 in the extended
//! Hamming \[16,11,4\] code. Number the 16 bit positions as vectors of
//! F2^4 (position `i` is the 4-bit number `i`); a weight-4 word is in the
//! code exactly when the XOR of its four set positions is zero (the parity
//! check matrix has the columns `(1, i)`, and the overall parity of a
//! weight-4 word is already even). Such quadruples are the affine planes of
//! AG(4, 2): 16 * 35 / 4 = 140 of them. Any two distinct words differ in at
//! least 4 bits, so one flipped bit can be corrected and two detected.
//!
//! # Bit order
//!
//! The 16 images of a tile are stored by (colour, round): image
//! `colour * 8 + round`, i.e. 647 nm rounds 1-8, then 750 nm rounds 1-8.
//! Which image carries which barcode bit is a convention, [`BitOrder`].
//!
//! # Other codes
//!
//! A codebook need not be MHD4: [`profile`] says what it is (weights,
//! minimum distance) and what that costs ([`CodeWarning`]). Only an
//! all-zero word is refused, since it would be called for every spot
//! whose bits are all off.
use core::fmt;

pub mod profile;

pub use profile::{
    corrects_single_errors, min_distance, CodeProfile, CodeWarning, CORRECTING_DISTANCE,
};

/// Number of bits in a MERFISH barcode (8 rounds x 2 colours).
pub const BARCODE_BITS: usize = 16;

/// Number of words in the MHD4 code.
pub const MHD4_WORD_COUNT: usize = 140;

/// Number of imaging rounds per colour.
pub const ROUNDS: usize = 8;

/// Number of colour channels (647 nm, 750 nm).
pub const COLOURS: usize = 2;

/// The 140 weight-4 words of the extended Hamming \[16,11,4\] code, ascending.
///
/// Deterministic and allocation-free: the words are enumerated in increasing
/// numeric order and kept when the XOR of their set-bit positions is zero.
pub fn mhd4_words() -> [u16; MHD4_WORD_COUNT] {
    let mut words = [0u16; MHD4_WORD_COUNT];
    let mut count = 0;
    for word in 0..=u16::MAX {
        if word.count_ones() == 4 && set_bit_position_xor(word) == 0 {
            words[count] = word;
            count += 1;
        }
    }
    debug_assert_eq!(count, MHD4_WORD_COUNT);
    words
}

/// Whether a codebook entry named `name` is a blank control: its name
/// starts with "blank" in any case (MERlin's convention). The one blank
/// rule: codebooks, the device and `robofish inspect` all ask here.
pub fn is_blank_name(name: &str) -> bool {
    name.get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("blank"))
}

/// XOR of the positions of the set bits of `word`.
fn set_bit_position_xor(word: u16) -> u32 {
    (0..16u32)
        .filter(|bit| word & (1 << bit) != 0)
        .fold(0, |acc, bit| acc ^ bit)
}

/// Which of the 16 images (ordered by colour, then round) carries which
/// barcode bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitOrder {
    /// Bits 0-7 = 647 nm rounds 1-8, bits 8-15 = 750 nm rounds 1-8; barcode
    /// bit `i` is image `i`.
    #[default]
    Blocked,
    /// Bit `2r` = 647 nm round `r + 1`, bit `2r + 1` = 750 nm round `r + 1`.
    Interleaved,
}

impl BitOrder {
    /// The image index (`colour * 8 + round`) that carries barcode bit `bit`
    /// (`bit < 16`).
    pub fn image_of_bit(self, bit: usize) -> usize {
        match self {
            BitOrder::Blocked => bit,
            BitOrder::Interleaved => (bit % COLOURS) * ROUNDS + bit / COLOURS,
        }
    }

    /// The barcode bit carried by image `image` (`colour * 8 + round`,
    /// `image < 16`).
    pub fn bit_of_image(self, image: usize) -> usize {
        match self {
            BitOrder::Blocked => image,
            BitOrder::Interleaved => (image % ROUNDS) * COLOURS + image / ROUNDS,
        }
    }

    /// The name used on the command line and in `config.yml`.
    pub fn name(self) -> &'static str {
        match self {
            BitOrder::Blocked => "blocked",
            BitOrder::Interleaved => "interleaved",
        }
    }
}

/// Why a codebook CSV could not be read. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodebookError {
    /// The text has no header line.
    MissingHeader,
    /// The header is not `name, id, bit1, ..., bit16`.
    BadHeader {
        /// Line of the header.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A row has the wrong number of comma-separated fields.
    WrongFieldCount {
        /// Line of the row.
        line: usize,
        /// Fields expected (2 + 16).
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A bit field is not `0` or `1`.
    BadBit {
        /// Line of the row.
        line: usize,
        /// Barcode bit (1-based, as in the `bitN` header).
        bit: usize,
    },
    /// A row has an empty name.
    EmptyName {
        /// Line of the row.
        line: usize,
    },
    /// Two rows carry the same barcode word.
    DuplicateWord {
        /// Line of the second row.
        line: usize,
        /// Line of the first row with that word.
        first_line: usize,
    },
    /// A row's barcode has no bit set.
    ZeroWord {
        /// Line of the row.
        line: usize,
    },
    /// The CSV has a header but no rows.
    NoEntries,
}

impl fmt::Display for CodebookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodebookError::MissingHeader => {
                write!(f, "codebook is empty: expected a header `name, id, bit1, ..., bit16`")
            }
            CodebookError::BadHeader { line, reason } => {
                write!(f, "line {line}: bad codebook header: {reason}")
            }
            CodebookError::WrongFieldCount { line, expected, found } => write!(
                f,
                "line {line}: expected {expected} fields (name, id and {BARCODE_BITS} bits), found {found}"
            ),
            CodebookError::BadBit { line, bit } => {
                write!(f, "line {line}: bit{bit} must be 0 or 1")
            }
            CodebookError::EmptyName { line } => write!(f, "line {line}: empty gene name"),
            CodebookError::DuplicateWord { line, first_line } => write!(
                f,
                "line {line}: barcode duplicates the one on line {first_line}; words must be unique to decode"
            ),
            CodebookError::ZeroWord { line } => write!(
                f,
                "line {line}: barcode has no bit set; such a word would be called for every \
                 spot whose bits are all off"
            ),
            CodebookError::NoEntries => write!(f, "codebook has a header but no entries"),
        }
    }
}

impl core::error::Error for CodebookError {}

#[cfg(feature = "alloc")]
pub use self::table::{Codebook, CodebookEntry};

#[cfg(feature = "alloc")]
mod table {
    use super::{
        is_blank_name, mhd4_words, min_distance, CodeProfile, CodebookError, BARCODE_BITS,
        MHD4_WORD_COUNT,
    };
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::fmt::Write;

    /// One codebook row: a gene (or blank control) and its barcode.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CodebookEntry {
        /// Gene name; blank controls start with "Blank".
        pub name: String,
        /// Identifier (e.g. a transcript id); free text.
        pub id: String,
        /// Barcode, bit `i` = barcode bit `i`.
        pub word: u16,
    }

    /// A list of barcodes with names, blank controls marked by name.
    ///
    /// Words are unique and never all zero. Words need not have weight 4 (a
    /// real experiment may use another code): [`Codebook::profile`] says
    /// what the code is and what to warn about.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Codebook {
        entries: Vec<CodebookEntry>,
    }

    impl Codebook {
        /// The MHD4 codebook with `real_genes` genes and `140 - real_genes`
        /// blank controls (`real_genes` is clamped to 140).
        ///
        /// Entries are in ascending word order ([`mhd4_words`]). The blank
        /// words are spread evenly through that order (word `j` is a blank
        /// when `floor(j * blanks / 140)` steps up at `j`), so blanks use
        /// every bit about as often as genes do rather than all sharing the
        /// high bits; the rest are `Gene001`, `Gene002`, ... in order and the
        /// blanks `Blank-01`, `Blank-02`, ... . The id equals the name.
        pub fn mhd4(real_genes: usize) -> Codebook {
            let real_genes = real_genes.min(MHD4_WORD_COUNT);
            let blanks = MHD4_WORD_COUNT - real_genes;
            let (mut genes_named, mut blanks_named) = (0, 0);
            let entries = mhd4_words()
                .iter()
                .enumerate()
                .map(|(j, &word)| {
                    let is_blank =
                        (j + 1) * blanks / MHD4_WORD_COUNT != j * blanks / MHD4_WORD_COUNT;
                    let name = if is_blank {
                        blanks_named += 1;
                        format!("Blank-{blanks_named:02}")
                    } else {
                        genes_named += 1;
                        format!("Gene{genes_named:03}")
                    };
                    CodebookEntry {
                        id: name.clone(),
                        name,
                        word,
                    }
                })
                .collect();
            Codebook { entries }
        }

        /// A codebook from entries; fails on an empty list, an all-zero word
        /// or a duplicate word (reported with 1-based entry numbers as
        /// "lines").
        pub fn from_entries(entries: Vec<CodebookEntry>) -> Result<Codebook, CodebookError> {
            if entries.is_empty() {
                return Err(CodebookError::NoEntries);
            }
            for (i, entry) in entries.iter().enumerate() {
                if entry.word == 0 {
                    return Err(CodebookError::ZeroWord { line: i + 1 });
                }
                if let Some(first) = entries[..i].iter().position(|e| e.word == entry.word) {
                    return Err(CodebookError::DuplicateWord {
                        line: i + 1,
                        first_line: first + 1,
                    });
                }
            }
            Ok(Codebook { entries })
        }

        /// Parses a MERlin-style codebook: a header `name, id, bit1, ...,
        /// bit16`, then one row per word with 16 fields of `0` or `1`.
        /// Blank lines are skipped, fields are trimmed. Errors name the line.
        ///
        /// Words of weight other than 4 are accepted (see
        /// [`Codebook::profile`]); an all-zero word is refused.
        pub fn from_csv(text: &str) -> Result<Codebook, CodebookError> {
            let mut lines = text
                .lines()
                .enumerate()
                .map(|(i, line)| (i + 1, line.trim()))
                .filter(|(_, line)| !line.is_empty());
            let (header_line, header) = lines.next().ok_or(CodebookError::MissingHeader)?;
            check_header(header_line, header)?;

            let mut entries: Vec<CodebookEntry> = Vec::new();
            let mut entry_lines: Vec<usize> = Vec::new();
            for (line, row) in lines {
                let fields: Vec<&str> = row.split(',').map(str::trim).collect();
                if fields.len() != 2 + BARCODE_BITS {
                    return Err(CodebookError::WrongFieldCount {
                        line,
                        expected: 2 + BARCODE_BITS,
                        found: fields.len(),
                    });
                }
                if fields[0].is_empty() {
                    return Err(CodebookError::EmptyName { line });
                }
                let mut word = 0u16;
                for (bit, field) in fields[2..].iter().enumerate() {
                    match *field {
                        "0" => {}
                        "1" => word |= 1 << bit,
                        _ => return Err(CodebookError::BadBit { line, bit: bit + 1 }),
                    }
                }
                if word == 0 {
                    return Err(CodebookError::ZeroWord { line });
                }
                if let Some(first) = entries.iter().position(|e| e.word == word) {
                    return Err(CodebookError::DuplicateWord {
                        line,
                        first_line: entry_lines[first],
                    });
                }
                entries.push(CodebookEntry {
                    name: fields[0].to_string(),
                    id: fields[1].to_string(),
                    word,
                });
                entry_lines.push(line);
            }
            if entries.is_empty() {
                return Err(CodebookError::NoEntries);
            }
            Ok(Codebook { entries })
        }

        /// Writes the MERlin-style CSV that [`Codebook::from_csv`] reads.
        pub fn to_csv(&self) -> String {
            let mut out = String::from("name, id");
            for bit in 1..=BARCODE_BITS {
                let _ = write!(out, ", bit{bit}");
            }
            out.push('\n');
            for entry in &self.entries {
                let _ = write!(out, "{}, {}", entry.name, entry.id);
                for bit in 0..BARCODE_BITS {
                    let _ = write!(out, ", {}", (entry.word >> bit) & 1);
                }
                out.push('\n');
            }
            out
        }

        /// Number of entries (genes and blanks).
        pub fn len(&self) -> usize {
            self.entries.len()
        }

        /// True when there are no entries (never for a parsed codebook).
        pub fn is_empty(&self) -> bool {
            self.entries.is_empty()
        }

        /// All entries in file order.
        pub fn entries(&self) -> &[CodebookEntry] {
            &self.entries
        }

        /// The words, in entry order.
        pub fn words(&self) -> Vec<u16> {
            self.entries.iter().map(|e| e.word).collect()
        }

        /// Name of entry `index`, or `None` when out of range.
        pub fn name(&self, index: usize) -> Option<&str> {
            self.entries.get(index).map(|e| e.name.as_str())
        }

        /// Word of entry `index`, or `None` when out of range.
        pub fn word(&self, index: usize) -> Option<u16> {
            self.entries.get(index).map(|e| e.word)
        }

        /// Whether entry `index` is a blank control ([`is_blank_name`]).
        /// Out of range gives `false`.
        pub fn is_blank(&self, index: usize) -> bool {
            self.entries
                .get(index)
                .is_some_and(|e| is_blank_name(&e.name))
        }

        /// [`Codebook::is_blank`] for every entry.
        pub fn blank_flags(&self) -> Vec<bool> {
            (0..self.len()).map(|i| self.is_blank(i)).collect()
        }

        /// Indices of the real (non-blank) entries, in order.
        pub fn real_indices(&self) -> Vec<usize> {
            (0..self.len()).filter(|&i| !self.is_blank(i)).collect()
        }

        /// Index of the entry with this word.
        pub fn index_of_word(&self, word: u16) -> Option<usize> {
            self.entries.iter().position(|e| e.word == word)
        }

        /// Index of the entry with this name (exact match).
        pub fn index_of_name(&self, name: &str) -> Option<usize> {
            self.entries.iter().position(|e| e.name == name)
        }

        /// Smallest Hamming distance between two words, `None` with fewer
        /// than two entries. 4 for an MHD4 codebook: one-bit errors are then
        /// correctable.
        pub fn min_distance(&self) -> Option<u32> {
            min_distance(&self.words())
        }

        /// What the code is (weights, distance, blanks) and what to warn
        /// about before decoding with it ([`CodeProfile::warnings`]).
        pub fn profile(&self) -> CodeProfile {
            CodeProfile::of(
                &self.words(),
                self.blank_flags().iter().filter(|&&b| b).count(),
            )
        }
    }

    fn check_header(line: usize, header: &str) -> Result<(), CodebookError> {
        let fields: Vec<&str> = header.split(',').map(str::trim).collect();
        if fields.len() != 2 + BARCODE_BITS {
            return Err(CodebookError::BadHeader {
                line,
                reason: "expected 18 columns: name, id, bit1, ..., bit16",
            });
        }
        if !fields[0].eq_ignore_ascii_case("name") || !fields[1].eq_ignore_ascii_case("id") {
            return Err(CodebookError::BadHeader {
                line,
                reason: "first two columns must be `name, id`",
            });
        }
        let bits_named_in_order = fields[2..]
            .iter()
            .enumerate()
            .all(|(i, f)| f.eq_ignore_ascii_case(&format!("bit{}", i + 1)));
        if !bits_named_in_order {
            return Err(CodebookError::BadHeader {
                line,
                reason: "bit columns must be bit1 ... bit16 in order",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mhd4_has_140_weight_4_words_at_distance_4_or_more() {
        let words = mhd4_words();
        assert_eq!(words.len(), 140);
        assert!(words.iter().all(|w| w.count_ones() == 4));
        assert!(
            words.windows(2).all(|p| p[0] < p[1]),
            "ascending and unique"
        );
        let min_distance = (0..140)
            .flat_map(|i| (i + 1..140).map(move |j| (i, j)))
            .map(|(i, j)| (words[i] ^ words[j]).count_ones())
            .min()
            .unwrap();
        assert_eq!(min_distance, 4);
        assert_eq!(mhd4_words(), words, "deterministic");
        assert_eq!(words[0], 0b1111, "positions 0,1,2,3 XOR to 0");
    }

    #[test]
    fn every_bit_is_used_equally_by_mhd4() {
        let words = mhd4_words();
        for bit in 0..16 {
            let uses = words.iter().filter(|w| *w & (1 << bit) != 0).count();
            assert_eq!(uses, 35, "bit {bit}");
        }
    }

    #[test]
    fn blank_names_start_with_blank_in_any_case() {
        for name in ["Blank-01", "BLANK_x", "blank", "blanket"] {
            assert!(is_blank_name(name), "{name}");
        }
        for name in ["", "Blan", "Actb", " Blank", "Bl\u{e4}nk-1", "b\u{e9}"] {
            assert!(!is_blank_name(name), "{name}");
        }
    }

    #[test]
    fn bit_order_maps_are_inverse_permutations() {
        for order in [BitOrder::Blocked, BitOrder::Interleaved] {
            for bit in 0..16 {
                assert_eq!(order.bit_of_image(order.image_of_bit(bit)), bit);
            }
        }
        assert_eq!(BitOrder::Interleaved.image_of_bit(0), 0);
        assert_eq!(BitOrder::Interleaved.image_of_bit(1), 8);
        assert_eq!(BitOrder::Interleaved.image_of_bit(2), 1);
        assert_eq!(BitOrder::Interleaved.image_of_bit(15), 15);
        assert_eq!(BitOrder::Blocked.image_of_bit(9), 9);
    }

    #[cfg(feature = "alloc")]
    mod with_alloc {
        use super::super::*;
        use alloc::string::ToString;

        #[test]
        fn mhd4_codebook_names_and_spreads_blanks() {
            let book = Codebook::mhd4(130);
            assert_eq!(book.len(), 140);
            assert_eq!(book.blank_flags().iter().filter(|b| **b).count(), 10);
            assert_eq!(book.real_indices().len(), 130);
            assert_eq!(book.name(0), Some("Gene001"));
            assert!(!book.is_blank(0));
            let first_blank = book.blank_flags().iter().position(|b| *b).unwrap();
            assert_eq!(book.name(first_blank), Some("Blank-01"));
            assert!(
                first_blank > 5 && first_blank < 20,
                "blanks spread, first at {first_blank}"
            );
            assert_eq!(book.words(), mhd4_words().to_vec());
            assert_eq!(book.min_distance(), Some(4));
            assert_eq!(
                Codebook::mhd4(500)
                    .blank_flags()
                    .iter()
                    .filter(|b| **b)
                    .count(),
                0
            );
            assert_eq!(Codebook::mhd4(0).real_indices().len(), 0);
            assert_eq!(book, Codebook::mhd4(130));
        }

        #[test]
        fn csv_round_trip() {
            let book = Codebook::mhd4(130);
            let text = book.to_csv();
            assert!(text.starts_with("name, id, bit1, bit2,"));
            let back = Codebook::from_csv(&text).unwrap();
            assert_eq!(back, book);
            assert_eq!(back.index_of_word(book.words()[17]), Some(17));
        }

        #[test]
        fn blank_names_any_case() {
            let text = "name,id,bit1,bit2,bit3,bit4,bit5,bit6,bit7,bit8,bit9,bit10,bit11,bit12,bit13,bit14,bit15,bit16\n\
                        BLANK_x,a,1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0\n\
                        Actb,b,0,0,0,0,1,1,1,1,0,0,0,0,0,0,0,0\n";
            let book = Codebook::from_csv(text).unwrap();
            assert_eq!(book.blank_flags(), [true, false]);
            assert_eq!(book.word(1), Some(0b1111_0000));
        }

        fn csv_with_row(row: &str) -> alloc::string::String {
            let mut text = Codebook::mhd4(2).to_csv();
            let mut lines: alloc::vec::Vec<&str> = text.lines().take(3).collect();
            lines.push(row);
            text = lines.join("\n");
            text
        }

        #[test]
        fn bad_rows_give_line_numbered_errors() {
            let short = csv_with_row("G, g, 1, 1, 1, 1, 0");
            assert_eq!(
                Codebook::from_csv(&short),
                Err(CodebookError::WrongFieldCount {
                    line: 4,
                    expected: 18,
                    found: 7
                })
            );
            let bad_bit = csv_with_row("G, g, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0");
            let err = Codebook::from_csv(&bad_bit).unwrap_err();
            assert_eq!(err, CodebookError::BadBit { line: 4, bit: 4 });
            assert!(err.to_string().contains("line 4"));
            let first_word_row: alloc::string::String =
                Codebook::mhd4(2).to_csv().lines().nth(1).unwrap().into();
            let dup = csv_with_row(&first_word_row.replacen("Gene001", "Other", 1));
            assert_eq!(
                Codebook::from_csv(&dup),
                Err(CodebookError::DuplicateWord {
                    line: 4,
                    first_line: 2
                })
            );
            let no_name = csv_with_row(", g, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1");
            assert_eq!(
                Codebook::from_csv(&no_name),
                Err(CodebookError::EmptyName { line: 4 })
            );
            let zero = csv_with_row("Z, z, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0");
            let err = Codebook::from_csv(&zero).unwrap_err();
            assert_eq!(err, CodebookError::ZeroWord { line: 4 });
            assert!(err.to_string().contains("no bit set"), "{err}");
            let zero_entry = CodebookEntry {
                name: "Z".into(),
                id: "z".into(),
                word: 0,
            };
            assert_eq!(
                Codebook::from_entries(alloc::vec![zero_entry]),
                Err(CodebookError::ZeroWord { line: 1 })
            );
        }

        #[test]
        fn a_word_of_weight_seven_is_accepted_and_profiled() {
            let heavy = csv_with_row("Heavy, h, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0");
            let book = Codebook::from_csv(&heavy).unwrap();
            let profile = book.profile();
            assert_eq!((profile.weight_count(7), profile.weight_count(4)), (1, 2));
            assert_eq!(
                profile.blank_words(),
                book.blank_flags().iter().filter(|b| **b).count()
            );
            let warnings: alloc::vec::Vec<_> = profile.warnings().collect();
            assert!(
                warnings
                    .iter()
                    .any(|w| matches!(w, super::super::CodeWarning::Weights { .. })),
                "{warnings:?}"
            );
            assert!(Codebook::mhd4(130).profile().warnings().next().is_none());
        }

        #[test]
        fn bad_headers_are_rejected() {
            assert_eq!(
                Codebook::from_csv("\n  \n"),
                Err(CodebookError::MissingHeader)
            );
            assert!(matches!(
                Codebook::from_csv("name, id, bit1\n"),
                Err(CodebookError::BadHeader { line: 1, .. })
            ));
            let header_only = Codebook::mhd4(1)
                .to_csv()
                .lines()
                .next()
                .unwrap()
                .to_string();
            assert_eq!(
                Codebook::from_csv(&header_only),
                Err(CodebookError::NoEntries)
            );
        }
    }
}
