//! An opened 2D image's pixel values as the file gives them: 8- and 16-bit integers kept in
//! their own width (an RGB 8-bit image takes 3 bytes a pixel in the page instead of 12 as f32),
//! floats and DICOM values as f32. Interleaved (`[(row · width + col) · channels + c]`).

use semiseg::data::value_range;

#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
    F32(Vec<f32>),
}

impl Samples {
    /// Sample `i` in the file's own units (0..255, 0..65535 or the float itself).
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Samples::U8(v) => v[i] as f32,
            Samples::U16(v) => v[i] as f32,
            Samples::F32(v) => v[i],
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
            Samples::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest and highest value as a display window ([`value_range`]'s rules: a flat image
    /// gets a window one unit wide; floats without a finite value, 0 to 1).
    pub fn range(&self) -> (f32, f32) {
        let ints = |lo: Option<f32>, hi: Option<f32>| match (lo, hi) {
            (Some(lo), Some(hi)) if hi > lo => (lo, hi),
            (Some(lo), _) => (lo, lo + 1.0),
            _ => (0.0, 1.0),
        };
        match self {
            Samples::U8(v) => ints(
                v.iter().min().map(|&x| x as f32),
                v.iter().max().map(|&x| x as f32),
            ),
            Samples::U16(v) => ints(
                v.iter().min().map(|&x| x as f32),
                v.iter().max().map(|&x| x as f32),
            ),
            Samples::F32(v) => value_range(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_read_and_range_as_their_f32_values() {
        let ints: [u16; 4] = [7, 3, 900, 3];
        let cases = [
            Samples::U8(ints.iter().map(|&x| (x % 256) as u8).collect()),
            Samples::U16(ints.to_vec()),
        ];
        for s in cases {
            let f: Vec<f32> = (0..s.len()).map(|i| s.get(i)).collect();
            assert_eq!(s.range(), value_range(&f), "{s:?}");
        }
        assert_eq!(Samples::U16(vec![900, 3]).get(0), 900.0);
        // by hand: 900 % 256 = 132, so 3 to 132; a flat image one unit wide; nothing: 0 to 1
        assert_eq!(Samples::U8(vec![7, 3, 132, 3]).range(), (3.0, 132.0));
        assert_eq!(Samples::U16(vec![5, 5]).range(), (5.0, 6.0));
        assert_eq!(Samples::U8(vec![]).range(), (0.0, 1.0));
        assert_eq!(Samples::F32(vec![f32::NAN, -2.0, 4.5]).range(), (-2.0, 4.5));
    }
}
