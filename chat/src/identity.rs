//! A person's public identity: the color and short name derived from their id.
//!
//! Like color-hash, the color comes from a hash of the id, so it is stable across reloads and restarts. Unlike
//! color-hash, only the hue varies: lightness and chroma are fixed in Oklch, a perceptually uniform space, so every
//! color is equally easy to read and all of them pass WCAG AA (4.5:1) as text on the page background. A person
//! carries only the hue; the stylesheet draws it (`oklch(50% 0.13 <hue>)`, see `--person-color`).

use palette::{FromColor, Oklab, Oklch};

use protocol::domain::{Hue, PersonId, stable_hash};
use protocol::model::Person;

/// Oklch chroma of identity colors (`--person-color` in style/main.css): colorful enough to tell hues apart. Their
/// lightness is the theme's (`--person-lightness`: dark on the light theme, light on the dark one); the chroma
/// is the same in both, so two hues are as far apart in either theme. The unit tests check all 3,600 hues on
/// every background of both themes.
const CHROMA: f32 = 0.13;

/// Derives a person's public identity from their id (one this server made).
pub fn person(id: &str) -> Person {
    let hash = stable_hash(id.as_bytes());
    // The top 16 bits pick the hue; the name uses other bits, so color and name vary independently.
    let hue = Hue::from_tenths((((hash >> 48) * u64::from(Hue::STEPS)) >> 16) as u32);
    Person { id: PersonId::trusted(id), name: short_name(hash), hue }
}

/// Below this Oklab distance two identity colors are too close to tell apart at a glance.
///
/// All identity colors of a theme share lightness and chroma, so their distance is 2·C·sin(Δhue/2), whatever the
/// lightness (so in both themes): 0.05 at C = 0.13 is a
/// hue difference of about 22°. A just-noticeable Oklab difference is about 0.02, but that is for large patches
/// side by side; for a small swatch and colored name seen in passing, 2.5 times that is a fair line. Two random
/// hues fall within 22° of each other with probability 44/360, about 1 in 8, so in a busy room it happens.
pub const CLOSE_COLOR_DISTANCE: f32 = 0.05;

/// An identity color in Oklch, at a theme's lightness.
fn identity_color(hue: Hue, lightness: f32) -> Oklch {
    Oklch::new(lightness, CHROMA, hue.degrees())
}

/// Oklab distance between the identity colors of two hues (the same in both themes).
pub fn color_distance(a: Hue, b: Hue) -> f32 {
    use palette::color_difference::EuclideanDistance;
    let lightness = 0.5;
    Oklab::from_color(identity_color(a, lightness)).distance(Oklab::from_color(identity_color(b, lightness)))
}

/// For each person, a distinguishing mark if someone else in `people` could be mistaken for them (a color
/// closer than [`CLOSE_COLOR_DISTANCE`], or the same name). The mark is the start of their id, long enough to
/// differ from everyone they could be mistaken for.
pub fn distinguishing_tags(people: &[Person]) -> Vec<Option<String>> {
    let mut tags = vec![None; people.len()];
    for (i, a) in people.iter().enumerate() {
        let rivals: Vec<&Person> = people
            .iter()
            .enumerate()
            .filter(|(j, b)| *j != i && (b.name == a.name || color_distance(a.hue, b.hue) < CLOSE_COLOR_DISTANCE))
            .map(|(_, b)| b)
            .collect();
        if rivals.is_empty() {
            continue;
        }
        let id = a.id.as_str();
        let mut length = 4.min(id.len());
        while length < id.len() && rivals.iter().any(|b| b.id.as_str().get(..length) == id.get(..length)) {
            length += 1;
        }
        tags[i] = Some(format!("#{}", &id[..length]));
    }
    tags
}

const ADJECTIVES: [&str; 64] = [
    "Amber", "Brave", "Breezy", "Bright", "Calm", "Clever", "Cosmic", "Cozy", "Crisp", "Curious", "Dapper", "Daring",
    "Dreamy", "Eager", "Fancy", "Fearless", "Fluffy", "Frosty", "Gentle", "Giddy", "Golden", "Happy", "Hasty",
    "Humble", "Jolly", "Keen", "Kind", "Lively", "Lucky", "Lunar", "Merry", "Mighty", "Misty", "Nimble", "Noble",
    "Peppy", "Plucky", "Polite", "Proud", "Quick", "Quiet", "Rapid", "Rosy", "Rustic", "Sassy", "Shiny", "Silent",
    "Silly", "Sleepy", "Snowy", "Solar", "Speedy", "Spicy", "Sunny", "Swift", "Tidy", "Tiny", "Velvet", "Witty",
    "Zany", "Zesty", "Wild", "Wise", "Young",
];

const ANIMALS: [&str; 64] = [
    "Alpaca", "Badger", "Beaver", "Bison", "Bobcat", "Camel", "Cheetah", "Cobra", "Cougar", "Coyote", "Crane", "Dingo",
    "Dolphin", "Donkey", "Eagle", "Falcon", "Ferret", "Finch", "Fox", "Gecko", "Gibbon", "Goose", "Heron", "Hippo",
    "Ibis", "Iguana", "Jackal", "Jaguar", "Koala", "Lemur", "Leopard", "Llama", "Lynx", "Magpie", "Marten", "Meerkat",
    "Moose", "Narwhal", "Ocelot", "Octopus", "Otter", "Owl", "Panda", "Panther", "Parrot", "Pelican", "Penguin",
    "Puffin", "Quail", "Rabbit", "Raccoon", "Raven", "Salmon", "Seal", "Sloth", "Swan", "Tapir", "Tiger", "Toucan",
    "Turtle", "Walrus", "Weasel", "Wombat", "Yak",
];

fn short_name(hash: u64) -> String {
    let adjective = ADJECTIVES[(hash & 63) as usize];
    let animal = ANIMALS[((hash >> 6) & 63) as usize];
    format!("{adjective} {animal}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use palette::color_difference::Wcag21RelativeContrast;
    use palette::{Clamp, Srgb};

    /// The stylesheet: the themes' colors are read from it, so the tests check what browsers draw.
    const STYLESHEET: &str = include_str!("../../style/main.css");

    /// The custom properties (`--name: value;`) of the first `:root` block from `marker` on.
    fn theme(marker: &str) -> std::collections::HashMap<&'static str, &'static str> {
        let from = STYLESHEET.find(marker).expect("the theme's block");
        let start = from + STYLESHEET[from..].find(":root {").expect("its :root");
        let end = start + STYLESHEET[start..].find('}').expect("its end");
        STYLESHEET[start..end]
            .lines()
            .filter_map(|line| line.trim().strip_prefix("--")?.split_once(':'))
            .map(|(name, value)| (name, value.trim().trim_end_matches(';')))
            .collect()
    }

    fn hex(value: &str) -> Srgb<f32> {
        let channel = |at: usize| u8::from_str_radix(&value[at..at + 2], 16).expect("a #rrggbb color");
        Srgb::new(channel(1), channel(3), channel(5)).into_format()
    }

    /// About half the hues at these lightnesses and chroma lie a little outside sRGB. A browser draws them either
    /// by clipping each channel (as here) or by reducing chroma at the same lightness; clipping is the worse of
    /// the two for contrast, so passing here passes there.
    #[test]
    fn every_hue_reads_with_aa_contrast_on_every_background_of_both_themes() {
        assert!(STYLESHEET.contains(&format!("oklch(var(--person-lightness) {CHROMA} var(--person-hue))")));
        for marker in [":root {", "@media (prefers-color-scheme: dark)"] {
            let theme = theme(marker);
            let lightness: f32 = theme["person-lightness"].parse().expect("a lightness");
            // Where names are drawn in their color: the page, panels and cards, messages (others', one's own,
            // whispers).
            for background in ["bg", "surface", "message-bg", "mine-bg", "whisper-bg"] {
                let background = hex(theme[background]);
                let worst = (0..u32::from(Hue::STEPS))
                    .map(|tenth| {
                        let drawn: Srgb<u8> =
                            Srgb::from_color(identity_color(Hue::from_tenths(tenth), lightness)).clamp().into_format();
                        drawn.into_format::<f32>().relative_contrast(background)
                    })
                    .fold(f32::MAX, f32::min);
                assert!(worst >= 4.5, "{marker}: worst contrast {worst} on {background:?} is below WCAG AA");
            }
        }
    }

    /// Every pair of text and background colors the themes use reads at WCAG AA.
    #[test]
    fn theme_colors_read_with_aa_contrast() {
        let pairs = [
            ("text", "bg"),
            ("text", "surface"),
            ("text", "message-bg"),
            ("text", "mine-bg"),
            ("text", "tag-bg"),
            ("muted", "bg"),
            ("muted", "surface"),
            ("muted", "message-bg"),
            ("muted", "mine-bg"),
            ("muted", "whisper-bg"),
            ("muted", "tag-bg"),
            ("accent", "bg"),
            ("accent", "surface"),
            ("accent", "message-bg"),
            ("accent", "mine-bg"),
            ("accent", "whisper-bg"),
            ("unread-text", "unread-bg"),
            ("accent-text", "accent"),
            ("danger", "bg"),
            ("danger", "surface"),
            ("danger", "offline-bg"),
            ("whisper-text", "whisper-bg"),
            ("notice-text", "notice-bg"),
            ("badge-text", "badge-bg"),
        ];
        for marker in [":root {", "@media (prefers-color-scheme: dark)"] {
            let theme = theme(marker);
            for (text, background) in pairs {
                let contrast = hex(theme[text]).relative_contrast(hex(theme[background]));
                assert!(contrast >= 4.5, "{marker}: --{text} on --{background} is {contrast}");
            }
        }
    }

    const PINNED: (&str, u32) = ("Rustic Gecko", 1969);

    #[test]
    fn identity_is_stable_and_depends_only_on_the_id() {
        // The hash must never change, or every visitor gets a new identity (its FNV-1a is pinned in domain.rs).
        let a = person("0f8fad5bd9cb469fa16570867728950e");
        assert_eq!(a, person("0f8fad5bd9cb469fa16570867728950e"));
        assert_eq!((a.name.as_str(), a.hue), (PINNED.0, Hue::from_tenths(PINNED.1)));
        assert_ne!(a, person("0f8fad5bd9cb469fa16570867728950f"));
    }

    #[test]
    fn people_with_close_colors_or_equal_names_get_distinct_tags() {
        // Find two ids whose colors fall below the threshold, and one far from both.
        let people: Vec<Person> = (0..400).map(|n| person(&format!("{n:032x}"))).collect();
        let (a, b) = people
            .iter()
            .enumerate()
            .flat_map(|(i, a)| people[i + 1..].iter().map(move |b| (a, b)))
            .find(|(a, b)| color_distance(a.hue, b.hue) < CLOSE_COLOR_DISTANCE / 2.0)
            .expect("some pair of 400 visitors has close colors");
        let far = people
            .iter()
            .find(|c| {
                [a, b].iter().all(|x| color_distance(x.hue, c.hue) > 3.0 * CLOSE_COLOR_DISTANCE && x.name != c.name)
            })
            .unwrap();
        let tags = distinguishing_tags(&[a.clone(), far.clone(), b.clone()]);
        let (tag_a, tag_far, tag_b) = (tags[0].clone().unwrap(), tags[1].clone(), tags[2].clone().unwrap());
        assert_eq!(tag_far, None, "someone nobody resembles needs no tag");
        assert_ne!(tag_a, tag_b, "the two look-alikes are told apart");
        assert!(tag_a.starts_with('#') && a.id.as_str().starts_with(&tag_a[1..]));

        // Ids that share their first characters get longer tags.
        let twin_a = Person { id: PersonId::trusted("abcd1111"), name: "Same Name".into(), hue: Hue::from_tenths(0) };
        let twin_b =
            Person { id: PersonId::trusted("abcd2222"), name: "Same Name".into(), hue: Hue::from_tenths(1800) };
        let tags = distinguishing_tags(&[twin_a, twin_b]);
        assert_eq!(tags, vec![Some("#abcd1".to_owned()), Some("#abcd2".to_owned())]);
    }

    #[test]
    fn color_distance_is_the_chord_between_hues() {
        assert!(color_distance(Hue::from_tenths(100), Hue::from_tenths(100)) < 1e-6);
        // Same lightness and chroma: the distance is 2·C·sin(Δhue/2); opposite hues are 2·C apart.
        let opposite = color_distance(Hue::from_tenths(0), Hue::from_tenths(1800));
        assert!((opposite - 2.0 * CHROMA).abs() < 1e-3, "{opposite}");
        let close = color_distance(Hue::from_tenths(0), Hue::from_tenths(220));
        assert!((close - CLOSE_COLOR_DISTANCE).abs() < 2e-3, "22° apart is the look-alike line: {close}");
    }

    #[test]
    fn different_ids_spread_over_hues_and_names() {
        let people: Vec<Person> = (0..200).map(|n| person(&format!("visitor-{n}"))).collect();
        let colors: std::collections::HashSet<_> = people.iter().map(|p| p.hue).collect();
        let names: std::collections::HashSet<_> = people.iter().map(|p| &p.name).collect();
        assert!(colors.len() > 150, "only {} distinct colors for 200 visitors", colors.len());
        assert!(names.len() > 180, "only {} distinct names for 200 visitors", names.len());
    }
}
