//! Option values spelled as on the official command line (`batch`, `unet_256`, `AtoB`, ...).

/// Implements `Display` and `FromStr` for a fieldless enum from its variants' official names;
/// an unknown name is an error listing the accepted ones. Exported for the `pix2pix` crate's own
/// option values.
#[macro_export]
macro_rules! named_values {
    ($type:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($type::$variant => $name,)+
                })
            }
        }

        impl std::str::FromStr for $type {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                match s {
                    $($name => Ok($type::$variant),)+
                    other => Err(format!(
                        "unknown {} '{other}': use {}",
                        $what,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
    };
}

pub use named_values;
