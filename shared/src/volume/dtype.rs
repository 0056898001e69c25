//! NIfTI voxel data types and their decoding to `f64`.

use super::header::Endian;

/// The voxel types semiseg reads and writes (NIfTI `datatype` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DataType {
    Uint8,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Float32,
    Float64,
}

impl DataType {
    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            DataType::Uint8 => 2,
            DataType::Int16 => 4,
            DataType::Int32 => 8,
            DataType::Float32 => 16,
            DataType::Float64 => 64,
            DataType::Int8 => 256,
            DataType::Uint16 => 512,
            DataType::Uint32 => 768,
        }
    }

    /// The type for a NIfTI `datatype` code; `Err` carries a readable name for unsupported codes.
    pub fn from_code(code: i16) -> Result<Self, String> {
        Ok(match code {
            2 => DataType::Uint8,
            4 => DataType::Int16,
            8 => DataType::Int32,
            16 => DataType::Float32,
            64 => DataType::Float64,
            256 => DataType::Int8,
            512 => DataType::Uint16,
            768 => DataType::Uint32,
            32 => return Err("complex64 voxels (datatype 32)".into()),
            128 => return Err("RGB24 voxels (datatype 128)".into()),
            1024 => return Err("int64 voxels (datatype 1024)".into()),
            1280 => return Err("uint64 voxels (datatype 1280)".into()),
            1536 => return Err("float128 voxels (datatype 1536)".into()),
            1792 | 2048 => return Err(format!("complex voxels (datatype {code})")),
            2304 => return Err("RGBA32 voxels (datatype 2304)".into()),
            other => return Err(format!("unknown datatype code {other}")),
        })
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            DataType::Uint8 | DataType::Int8 => 1,
            DataType::Int16 | DataType::Uint16 => 2,
            DataType::Int32 | DataType::Uint32 | DataType::Float32 => 4,
            DataType::Float64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::Uint8 => "uint8",
            DataType::Int8 => "int8",
            DataType::Int16 => "int16",
            DataType::Uint16 => "uint16",
            DataType::Int32 => "int32",
            DataType::Uint32 => "uint32",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
        }
    }

    pub fn is_integer(self) -> bool {
        !matches!(self, DataType::Float32 | DataType::Float64)
    }

    /// Inclusive range of an integer type (`None` for floats).
    pub fn integer_range(self) -> Option<(f64, f64)> {
        Some(match self {
            DataType::Uint8 => (0.0, u8::MAX as f64),
            DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
            DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
            DataType::Uint16 => (0.0, u16::MAX as f64),
            DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
            DataType::Uint32 => (0.0, u32::MAX as f64),
            DataType::Float32 | DataType::Float64 => return None,
        })
    }

    /// Decode one voxel stored in `bytes` (exactly [`DataType::size`] long).
    pub fn decode(self, bytes: &[u8], endian: Endian) -> f64 {
        macro_rules! read {
            ($t:ty) => {{
                let arr = bytes.try_into().expect("slice of the element size");
                match endian {
                    Endian::Little => <$t>::from_le_bytes(arr) as f64,
                    Endian::Big => <$t>::from_be_bytes(arr) as f64,
                }
            }};
        }
        match self {
            DataType::Uint8 => bytes[0] as f64,
            DataType::Int8 => bytes[0] as i8 as f64,
            DataType::Int16 => read!(i16),
            DataType::Uint16 => read!(u16),
            DataType::Int32 => read!(i32),
            DataType::Uint32 => read!(u32),
            DataType::Float32 => read!(f32),
            DataType::Float64 => read!(f64),
        }
    }

    /// Encode one value (already checked to fit) as little-endian bytes into `out`.
    pub fn encode_le(self, value: f64, out: &mut Vec<u8>) {
        match self {
            DataType::Uint8 => out.push(value as u8),
            DataType::Int8 => out.push(value as i8 as u8),
            DataType::Int16 => out.extend_from_slice(&(value as i16).to_le_bytes()),
            DataType::Uint16 => out.extend_from_slice(&(value as u16).to_le_bytes()),
            DataType::Int32 => out.extend_from_slice(&(value as i32).to_le_bytes()),
            DataType::Uint32 => out.extend_from_slice(&(value as u32).to_le_bytes()),
            DataType::Float32 => out.extend_from_slice(&(value as f32).to_le_bytes()),
            DataType::Float64 => out.extend_from_slice(&value.to_le_bytes()),
        }
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in [
            DataType::Uint8,
            DataType::Int8,
            DataType::Int16,
            DataType::Uint16,
            DataType::Int32,
            DataType::Uint32,
            DataType::Float32,
            DataType::Float64,
        ] {
            assert_eq!(DataType::from_code(t.code()).unwrap(), t);
        }
        assert!(DataType::from_code(32).unwrap_err().contains("complex"));
    }

    #[test]
    fn decodes_both_endians() {
        assert_eq!(DataType::Int16.decode(&[0xff, 0xfe], Endian::Big), -2.0);
        assert_eq!(DataType::Int16.decode(&[0xfe, 0xff], Endian::Little), -2.0);
        assert_eq!(DataType::Uint16.decode(&[0x01, 0x00], Endian::Big), 256.0);
        assert_eq!(
            DataType::Float32.decode(&1.5f32.to_be_bytes(), Endian::Big),
            1.5
        );
        assert_eq!(DataType::Int8.decode(&[0x80], Endian::Little), -128.0);
    }
}
