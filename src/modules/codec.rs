//! Text codecs as Python names and applies them: UTF-8, Latin-1 and ASCII
//! exactly, the other encodings through the WHATWG Encoding Standard.

/// The text codecs berth can apply exactly as Python does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Utf8,
    Latin1,
    Ascii,
    /// The other encodings Python and the WHATWG Encoding Standard share
    /// (gbk, shift_jis, euc-kr, windows-125x, ...), by their labels.
    Other(&'static encoding_rs::Encoding),
}

impl Codec {
    /// Python's codec lookup (`encodings.normalize_encoding` plus aliases);
    /// an unknown name is Python's LookupError text.
    pub(crate) fn lookup(name: &str) -> Result<Codec, String> {
        let mut norm = String::new();
        let mut punct = false;
        for c in name.to_ascii_lowercase().chars() {
            if c.is_alphanumeric() || c == '.' {
                if punct && !norm.is_empty() {
                    norm.push('_');
                }
                if c.is_ascii() {
                    norm.push(c);
                }
                punct = false;
            } else {
                punct = true;
            }
        }
        match norm.as_str() {
            "utf_8" | "u8" | "utf" | "utf8" | "utf8_ucs2" | "utf8_ucs4" | "cp65001" => {
                Ok(Codec::Utf8)
            }
            "latin_1" | "8859" | "cp819" | "csisolatin1" | "ibm819" | "iso8859" | "iso8859_1"
            | "iso_8859_1" | "iso_8859_1_1987" | "iso_ir_100" | "l1" | "latin" | "latin1" => {
                Ok(Codec::Latin1)
            }
            "ascii" | "646" | "ansi_x3.4_1968" | "ansi_x3_4_1968" | "ansi_x3.4_1986" | "cp367"
            | "csascii" | "ibm367" | "iso646_us" | "iso_646.irv_1991" | "iso_ir_6" | "us"
            | "us_ascii" => Ok(Codec::Ascii),
            // The Encoding Standard writes UTF-16 as UTF-8 and has no UTF-32:
            // these Python codecs are refused rather than misapplied.
            n if n.starts_with("utf_16")
                || n.starts_with("utf_32")
                || n.starts_with("utf16")
                || n.starts_with("utf32")
                || matches!(n, "u16" | "u32") =>
            {
                Err(format!(
                    "encoding {name} is not supported by berth (UTF-16 and UTF-32 are not)"
                ))
            }
            _ => encoding_rs::Encoding::for_label(name.trim().as_bytes())
                .filter(|e| e.output_encoding() == *e && **e != *encoding_rs::REPLACEMENT)
                .map(Codec::Other)
                .ok_or_else(|| format!("unknown encoding: {name}")),
        }
    }

    fn python_name(self) -> &'static str {
        match self {
            Codec::Utf8 => "utf-8",
            Codec::Latin1 => "latin-1",
            Codec::Ascii => "ascii",
            Codec::Other(e) => e.name(),
        }
    }

    /// Decode like `to_text(errors='surrogate_or_strict')`; undecodable bytes
    /// (which Python keeps as lone surrogates) are refused.
    pub(crate) fn decode(self, data: &[u8], path: &str) -> Result<String, String> {
        let refuse = || {
            format!(
                "{path} is not valid {}: Ansible keeps undecodable bytes as surrogate escapes, which berth does not support",
                self.python_name()
            )
        };
        match self {
            Codec::Utf8 => String::from_utf8(data.to_vec()).map_err(|_| refuse()),
            Codec::Ascii if data.is_ascii() => {
                Ok(String::from_utf8(data.to_vec()).unwrap_or_default())
            }
            Codec::Ascii => Err(refuse()),
            Codec::Latin1 => Ok(data.iter().map(|b| *b as char).collect()),
            Codec::Other(e) => e
                .decode_without_bom_handling_and_without_replacement(data)
                .map(|t| t.into_owned())
                .ok_or_else(refuse),
        }
    }

    pub(crate) fn encode(self, text: &str) -> Result<Vec<u8>, String> {
        let limit = match self {
            Codec::Utf8 => return Ok(text.as_bytes().to_vec()),
            Codec::Latin1 => 256,
            Codec::Ascii => 128,
            Codec::Other(e) => {
                let (bytes, _, unmappable) = e.encode(text);
                return if unmappable {
                    Err(format!("'{}' codec can't encode {text:?}", e.name()))
                } else {
                    Ok(bytes.into_owned())
                };
            }
        };
        let mut out = Vec::with_capacity(text.len());
        for (i, c) in text.chars().enumerate() {
            if (c as u32) >= limit {
                return Err(format!(
                    "'{}' codec can't encode character '\\u{:04x}' in position {i}: ordinal not in range({limit})",
                    if self == Codec::Ascii { "ascii" } else { "latin-1" },
                    c as u32
                ));
            }
            out.push(c as u8);
        }
        Ok(out)
    }
}
