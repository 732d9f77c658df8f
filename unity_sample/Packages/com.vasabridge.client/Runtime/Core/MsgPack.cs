// MessagePack reader and writer for the vasa_bridge protocol (protocol/SPEC.md §2).
// Engine-independent: no UnityEngine, C# 7.3, no third-party code.
//
// The reader is a cursor over a byte array and never allocates unless asked for a string, a byte[] copy or a
// generic value tree: the per-frame path (motion batches) compares keys against pre-encoded UTF-8 bytes and
// reads payloads in place. The writer appends into a reusable, growable buffer.
using System;
using System.Collections.Generic;
using System.Text;

namespace VasaBridge
{
    /// <summary>Raised for bytes that are not valid MessagePack, or not of the kind the protocol requires.</summary>
    public sealed class MsgPackException : Exception
    {
        public MsgPackException(string message) : base(message) { }
    }

    /// <summary>The kinds of MessagePack values the protocol uses (extension types are rejected, §2).</summary>
    public enum MsgPackKind { Nil, Bool, Int, UInt, Float, Str, Bin, Array, Map, Ext }

    /// <summary>Forward-only MessagePack reader over a byte segment. A struct so reading allocates nothing.</summary>
    public struct MsgPackReader
    {
        readonly byte[] _buf;
        readonly int _end;
        int _pos;

        public MsgPackReader(byte[] buffer, int offset, int count)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || count < 0 || offset + count > buffer.Length) throw new ArgumentOutOfRangeException("count");
            _buf = buffer; _pos = offset; _end = offset + count;
        }

        public byte[] Buffer { get { return _buf; } }
        public int Position { get { return _pos; } }
        public bool AtEnd { get { return _pos >= _end; } }

        void Need(int n)
        {
            if (n < 0 || _end - _pos < n) throw new MsgPackException("truncated msgpack: need " + n + " more bytes at offset " + _pos);
        }

        byte PeekByte() { Need(1); return _buf[_pos]; }

        public MsgPackKind PeekKind()
        {
            byte b = PeekByte();
            if (b <= 0x7f) return MsgPackKind.UInt;
            if (b <= 0x8f) return MsgPackKind.Map;
            if (b <= 0x9f) return MsgPackKind.Array;
            if (b <= 0xbf) return MsgPackKind.Str;
            if (b >= 0xe0) return MsgPackKind.Int;
            switch (b)
            {
                case 0xc0: return MsgPackKind.Nil;
                case 0xc2: case 0xc3: return MsgPackKind.Bool;
                case 0xc4: case 0xc5: case 0xc6: return MsgPackKind.Bin;
                case 0xca: case 0xcb: return MsgPackKind.Float;
                case 0xcc: case 0xcd: case 0xce: case 0xcf: return MsgPackKind.UInt;
                case 0xd0: case 0xd1: case 0xd2: case 0xd3: return MsgPackKind.Int;
                case 0xd9: case 0xda: case 0xdb: return MsgPackKind.Str;
                case 0xdc: case 0xdd: return MsgPackKind.Array;
                case 0xde: case 0xdf: return MsgPackKind.Map;
                case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return MsgPackKind.Ext;
                default: throw new MsgPackException("invalid msgpack type byte 0x" + b.ToString("x2") + " at offset " + _pos);
            }
        }

        uint ReadBE(int bytes)
        {
            Need(bytes);
            uint v = 0;
            for (int i = 0; i < bytes; i++) v = (v << 8) | _buf[_pos + i];
            _pos += bytes;
            return v;
        }

        ulong ReadBE64()
        {
            ulong hi = ReadBE(4);
            ulong lo = ReadBE(4);
            return (hi << 32) | lo;
        }

        int CheckedLength(uint n)
        {
            if (n > int.MaxValue) throw new MsgPackException("msgpack length " + n + " too large");
            return (int)n;
        }

        public bool TryReadNil()
        {
            if (PeekByte() != 0xc0) return false;
            _pos++;
            return true;
        }

        public int ReadMapHeader()
        {
            byte b = PeekByte();
            if (b >= 0x80 && b <= 0x8f) { _pos++; return b & 0x0f; }
            if (b == 0xde) { _pos++; return (int)ReadBE(2); }
            if (b == 0xdf) { _pos++; return CheckedLength(ReadBE(4)); }
            throw Unexpected("map");
        }

        public int ReadArrayHeader()
        {
            byte b = PeekByte();
            if (b >= 0x90 && b <= 0x9f) { _pos++; return b & 0x0f; }
            if (b == 0xdc) { _pos++; return (int)ReadBE(2); }
            if (b == 0xdd) { _pos++; return CheckedLength(ReadBE(4)); }
            throw Unexpected("array");
        }

        public bool ReadBool()
        {
            byte b = PeekByte();
            if (b == 0xc2) { _pos++; return false; }
            if (b == 0xc3) { _pos++; return true; }
            throw Unexpected("bool");
        }

        /// <summary>Any integer encoding (§2: receivers MUST accept all of them), as a signed 64-bit value.</summary>
        public long ReadInt64()
        {
            byte b = PeekByte();
            if (b <= 0x7f) { _pos++; return b; }
            if (b >= 0xe0) { _pos++; return (sbyte)b; }
            _pos++;
            switch (b)
            {
                case 0xcc: return ReadBE(1);
                case 0xcd: return ReadBE(2);
                case 0xce: return ReadBE(4);
                case 0xcf:
                    {
                        ulong u = ReadBE64();
                        if (u > long.MaxValue) throw new MsgPackException("uint64 " + u + " does not fit in int64");
                        return (long)u;
                    }
                case 0xd0: return (sbyte)ReadBE(1);
                case 0xd1: return (short)ReadBE(2);
                case 0xd2: return (int)ReadBE(4);
                case 0xd3: return (long)ReadBE64();
                default: _pos--; throw Unexpected("integer");
            }
        }

        /// <summary>A float field: float64, float32 or any integer (§2).</summary>
        public double ReadDouble()
        {
            byte b = PeekByte();
            if (b == 0xcb)
            {
                _pos++;
                return BitConverter.Int64BitsToDouble((long)ReadBE64());
            }
            if (b == 0xca)
            {
                _pos++;
                return Bits.UInt32BitsToSingle(ReadBE(4));
            }
            return ReadInt64();
        }

        /// <summary>Reads a str header and returns the UTF-8 byte range without decoding it (no allocation).</summary>
        public void ReadStrSegment(out int offset, out int count)
        {
            byte b = PeekByte();
            uint n;
            if (b >= 0xa0 && b <= 0xbf) { _pos++; n = (uint)(b & 0x1f); }
            else if (b == 0xd9) { _pos++; n = ReadBE(1); }
            else if (b == 0xda) { _pos++; n = ReadBE(2); }
            else if (b == 0xdb) { _pos++; n = ReadBE(4); }
            else throw Unexpected("str");
            count = CheckedLength(n);
            Need(count);
            offset = _pos;
            _pos += count;
        }

        public string ReadString()
        {
            int off, n;
            ReadStrSegment(out off, out n);
            return Encoding.UTF8.GetString(_buf, off, n);
        }

        /// <summary>True when the next value is a str equal to the given UTF-8 bytes; consumes it either way.</summary>
        public bool ReadStringEquals(byte[] utf8)
        {
            int off, n;
            ReadStrSegment(out off, out n);
            return Bits.SegmentEquals(_buf, off, n, utf8);
        }

        /// <summary>Reads a bin header and returns the payload's byte range in place (no copy).</summary>
        public void ReadBinSegment(out int offset, out int count)
        {
            byte b = PeekByte();
            uint n;
            if (b == 0xc4) { _pos++; n = ReadBE(1); }
            else if (b == 0xc5) { _pos++; n = ReadBE(2); }
            else if (b == 0xc6) { _pos++; n = ReadBE(4); }
            else throw Unexpected("bin");
            count = CheckedLength(n);
            Need(count);
            offset = _pos;
            _pos += count;
        }

        public byte[] ReadBinCopy()
        {
            int off, n;
            ReadBinSegment(out off, out n);
            var copy = new byte[n];
            System.Buffer.BlockCopy(_buf, off, copy, 0, n);
            return copy;
        }

        /// <summary>Skips one complete value (nested maps and arrays included).</summary>
        public void Skip()
        {
            int pending = 1;
            while (pending > 0)
            {
                pending--;
                switch (PeekKind())
                {
                    case MsgPackKind.Nil: _pos++; break;
                    case MsgPackKind.Bool: ReadBool(); break;
                    case MsgPackKind.Int: case MsgPackKind.UInt: ReadInt64OrUInt64(); break;
                    case MsgPackKind.Float: ReadDouble(); break;
                    case MsgPackKind.Str: { int o, n; ReadStrSegment(out o, out n); break; }
                    case MsgPackKind.Bin: { int o, n; ReadBinSegment(out o, out n); break; }
                    case MsgPackKind.Array: pending += ReadArrayHeader(); break;
                    case MsgPackKind.Map:
                        {
                            int n = ReadMapHeader();
                            if (n > int.MaxValue / 2 - pending) throw new MsgPackException("msgpack map too large");
                            pending += 2 * n;
                            break;
                        }
                    default: throw new MsgPackException("msgpack extension types are not allowed (SPEC §2)");
                }
            }
        }

        void ReadInt64OrUInt64()
        {
            if (PeekByte() == 0xcf) { _pos++; ReadBE64(); return; }
            ReadInt64();
        }

        /// <summary>
        /// Decodes one value into a tree: null, bool, long (or ulong above long.MaxValue), double, string, byte[],
        /// List&lt;object&gt;, Dictionary&lt;string, object&gt; (insertion-ordered keys kept in `MsgPackMap.OrderedKeys`).
        /// Allocates: for replies and tests, not for the per-frame path.
        /// </summary>
        public object ReadValue(int depth = 0)
        {
            if (depth > 64) throw new MsgPackException("msgpack nested deeper than 64 levels");
            switch (PeekKind())
            {
                case MsgPackKind.Nil: _pos++; return null;
                case MsgPackKind.Bool: return ReadBool();
                case MsgPackKind.Int: return ReadInt64();
                case MsgPackKind.UInt:
                    if (PeekByte() == 0xcf)
                    {
                        _pos++;
                        ulong u = ReadBE64();
                        if (u > long.MaxValue) return u;
                        return (long)u;
                    }
                    return ReadInt64();
                case MsgPackKind.Float:
                    return ReadDouble();
                case MsgPackKind.Str: return ReadString();
                case MsgPackKind.Bin: return ReadBinCopy();
                case MsgPackKind.Array:
                    {
                        int n = ReadArrayHeader();
                        var list = new List<object>(Math.Min(n, 1024));
                        for (int i = 0; i < n; i++) list.Add(ReadValue(depth + 1));
                        return list;
                    }
                case MsgPackKind.Map:
                    {
                        int n = ReadMapHeader();
                        var map = new MsgPackMap(Math.Min(n, 1024));
                        for (int i = 0; i < n; i++)
                        {
                            if (PeekKind() != MsgPackKind.Str) throw new MsgPackException("map keys must be strings (SPEC §2)");
                            string key = ReadString();
                            map[key] = ReadValue(depth + 1);
                        }
                        return map;
                    }
                default:
                    throw new MsgPackException("msgpack extension types are not allowed (SPEC §2)");
            }
        }

        MsgPackException Unexpected(string wanted)
        {
            return new MsgPackException("expected msgpack " + wanted + " at offset " + _pos + ", found type byte 0x" + _buf[_pos].ToString("x2"));
        }
    }

    /// <summary>A decoded msgpack map that remembers key order (so re-encoding reproduces the golden bytes).</summary>
    public sealed class MsgPackMap : Dictionary<string, object>
    {
        public readonly List<string> OrderedKeys = new List<string>();

        public MsgPackMap() { }
        public MsgPackMap(int capacity) : base(capacity) { }

        public new object this[string key]
        {
            get { return base[key]; }
            set
            {
                if (!ContainsKey(key)) OrderedKeys.Add(key);
                base[key] = value;
            }
        }

        public new void Add(string key, object value) { this[key] = value; }

        public new bool Remove(string key)
        {
            OrderedKeys.Remove(key);
            return base.Remove(key);
        }

        public string GetString(string key)
        {
            object v;
            if (!TryGetValue(key, out v) || !(v is string)) throw new MsgPackException("field '" + key + "' missing or not a string");
            return (string)v;
        }

        public long GetInt(string key)
        {
            object v;
            if (!TryGetValue(key, out v)) throw new MsgPackException("field '" + key + "' missing");
            if (v is long) return (long)v;
            throw new MsgPackException("field '" + key + "' is not an integer");
        }

        public double GetDouble(string key)
        {
            object v;
            if (!TryGetValue(key, out v)) throw new MsgPackException("field '" + key + "' missing");
            if (v is double) return (double)v;
            if (v is long) return (long)v;
            throw new MsgPackException("field '" + key + "' is not a number");
        }

        public bool GetBool(string key, bool fallback)
        {
            object v;
            if (TryGetValue(key, out v) && v is bool) return (bool)v;
            return fallback;
        }

        public MsgPackMap GetMap(string key)
        {
            object v;
            if (!TryGetValue(key, out v) || !(v is MsgPackMap)) throw new MsgPackException("field '" + key + "' missing or not a map");
            return (MsgPackMap)v;
        }

        public List<object> GetList(string key)
        {
            object v;
            if (!TryGetValue(key, out v) || !(v is List<object>)) throw new MsgPackException("field '" + key + "' missing or not a list");
            return (List<object>)v;
        }
    }

    /// <summary>Appends MessagePack into a reusable buffer, choosing the smallest encoding like msgpack-python.</summary>
    public sealed class MsgPackWriter
    {
        byte[] _buf;
        int _len;

        public MsgPackWriter(int initialCapacity = 256) { _buf = new byte[Math.Max(16, initialCapacity)]; }

        public byte[] Buffer { get { return _buf; } }
        public int Length { get { return _len; } }
        public void Clear() { _len = 0; }

        public byte[] ToArray()
        {
            var a = new byte[_len];
            System.Buffer.BlockCopy(_buf, 0, a, 0, _len);
            return a;
        }

        void Ensure(int extra)
        {
            if (_len + extra <= _buf.Length) return;
            int cap = _buf.Length;
            while (cap < _len + extra) cap *= 2;
            Array.Resize(ref _buf, cap);
        }

        void Byte(byte b) { Ensure(1); _buf[_len++] = b; }

        void BE(ulong v, int bytes)
        {
            Ensure(bytes);
            for (int i = bytes - 1; i >= 0; i--) { _buf[_len + i] = (byte)v; v >>= 8; }
            _len += bytes;
        }

        public void WriteNil() { Byte(0xc0); }
        public void WriteBool(bool v) { Byte(v ? (byte)0xc3 : (byte)0xc2); }

        public void WriteInt(long v)
        {
            if (v >= 0) { WriteUInt((ulong)v); return; }
            if (v >= -32) Byte((byte)(sbyte)v);
            else if (v >= sbyte.MinValue) { Byte(0xd0); BE((ulong)v, 1); }
            else if (v >= short.MinValue) { Byte(0xd1); BE((ulong)v, 2); }
            else if (v >= int.MinValue) { Byte(0xd2); BE((ulong)v, 4); }
            else { Byte(0xd3); BE((ulong)v, 8); }
        }

        public void WriteUInt(ulong v)
        {
            if (v <= 0x7f) Byte((byte)v);
            else if (v <= byte.MaxValue) { Byte(0xcc); BE(v, 1); }
            else if (v <= ushort.MaxValue) { Byte(0xcd); BE(v, 2); }
            else if (v <= uint.MaxValue) { Byte(0xce); BE(v, 4); }
            else { Byte(0xcf); BE(v, 8); }
        }

        public void WriteDouble(double v) { Byte(0xcb); BE((ulong)BitConverter.DoubleToInt64Bits(v), 8); }

        public void WriteString(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            WriteStrHeader(n);
            Ensure(n);
            Encoding.UTF8.GetBytes(s, 0, s.Length, _buf, _len);
            _len += n;
        }

        /// <summary>Writes a str whose UTF-8 bytes are pre-encoded (keys on hot paths: no allocation).</summary>
        public void WriteStringUtf8(byte[] utf8)
        {
            WriteStrHeader(utf8.Length);
            WriteRaw(utf8, 0, utf8.Length);
        }

        void WriteStrHeader(int n)
        {
            if (n <= 31) Byte((byte)(0xa0 | n));
            else if (n <= byte.MaxValue) { Byte(0xd9); BE((ulong)n, 1); }
            else if (n <= ushort.MaxValue) { Byte(0xda); BE((ulong)n, 2); }
            else { Byte(0xdb); BE((ulong)n, 4); }
        }

        public void WriteBinHeader(int n)
        {
            if (n <= byte.MaxValue) { Byte(0xc4); BE((ulong)n, 1); }
            else if (n <= ushort.MaxValue) { Byte(0xc5); BE((ulong)n, 2); }
            else { Byte(0xc6); BE((ulong)n, 4); }
        }

        public void WriteBin(byte[] data, int offset, int count)
        {
            WriteBinHeader(count);
            WriteRaw(data, offset, count);
        }

        public void WriteRaw(byte[] data, int offset, int count)
        {
            Ensure(count);
            System.Buffer.BlockCopy(data, offset, _buf, _len, count);
            _len += count;
        }

        public void WriteMapHeader(int n)
        {
            if (n <= 15) Byte((byte)(0x80 | n));
            else if (n <= ushort.MaxValue) { Byte(0xde); BE((ulong)n, 2); }
            else { Byte(0xdf); BE((ulong)n, 4); }
        }

        public void WriteArrayHeader(int n)
        {
            if (n <= 15) Byte((byte)(0x90 | n));
            else if (n <= ushort.MaxValue) { Byte(0xdc); BE((ulong)n, 2); }
            else { Byte(0xdd); BE((ulong)n, 4); }
        }

        /// <summary>Encodes a value tree as produced by MsgPackReader.ReadValue or built by hand.</summary>
        public void WriteValue(object v)
        {
            if (v == null) { WriteNil(); return; }
            if (v is bool) { WriteBool((bool)v); return; }
            if (v is long) { WriteInt((long)v); return; }
            if (v is int) { WriteInt((int)v); return; }
            if (v is uint) { WriteUInt((uint)v); return; }
            if (v is ulong) { WriteUInt((ulong)v); return; }
            if (v is double) { WriteDouble((double)v); return; }
            if (v is float) { WriteDouble((float)v); return; }
            if (v is string) { WriteString((string)v); return; }
            var bytes = v as byte[];
            if (bytes != null) { WriteBin(bytes, 0, bytes.Length); return; }
            var map = v as MsgPackMap;
            if (map != null)
            {
                WriteMapHeader(map.Count);
                foreach (string k in map.OrderedKeys) { WriteString(k); WriteValue(map[k]); }
                return;
            }
            var dict = v as IDictionary<string, object>;
            if (dict != null)
            {
                WriteMapHeader(dict.Count);
                foreach (var kv in dict) { WriteString(kv.Key); WriteValue(kv.Value); }
                return;
            }
            var list = v as System.Collections.IList;
            if (list != null)
            {
                WriteArrayHeader(list.Count);
                foreach (object item in list) WriteValue(item);
                return;
            }
            throw new ArgumentException("cannot encode a " + v.GetType().Name + " as msgpack");
        }
    }

    /// <summary>Bit-level helpers shared by the decoders.</summary>
    public static class Bits
    {
        [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit)]
        struct FloatUnion
        {
            [System.Runtime.InteropServices.FieldOffset(0)] public uint U;
            [System.Runtime.InteropServices.FieldOffset(0)] public float F;
        }

        public static float UInt32BitsToSingle(uint bits)
        {
            FloatUnion u = default(FloatUnion);
            u.U = bits;
            return u.F;
        }

        public static uint SingleToUInt32Bits(float f)
        {
            FloatUnion u = default(FloatUnion);
            u.F = f;
            return u.U;
        }

        /// <summary>Little-endian float32 at an offset, independent of the machine's byte order.</summary>
        public static float ReadFloat32LE(byte[] b, int o)
        {
            return UInt32BitsToSingle((uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)));
        }

        /// <summary>Little-endian IEEE half (binary16) to float32, exact for all values incl. subnormals, inf, NaN.</summary>
        public static float ReadFloat16LE(byte[] b, int o)
        {
            return HalfToSingle((ushort)(b[o] | (b[o + 1] << 8)));
        }

        public static float HalfToSingle(ushort h)
        {
            uint sign = (uint)(h & 0x8000) << 16;
            int exp = (h >> 10) & 0x1f;
            uint mant = (uint)(h & 0x3ff);
            if (exp == 0x1f) return UInt32BitsToSingle(sign | 0x7f800000u | (mant << 13));
            if (exp == 0)
            {
                if (mant == 0) return UInt32BitsToSingle(sign);
                // Subnormal half: normalise the mantissa into a float32 exponent.
                int e = -1;
                do { mant <<= 1; e++; } while ((mant & 0x400) == 0);
                mant &= 0x3ff;
                return UInt32BitsToSingle(sign | (uint)(127 - 15 - e) << 23 | (mant << 13));
            }
            return UInt32BitsToSingle(sign | (uint)(exp - 15 + 127) << 23 | (mant << 13));
        }

        public static bool SegmentEquals(byte[] buf, int offset, int count, byte[] other)
        {
            if (count != other.Length) return false;
            for (int i = 0; i < count; i++) if (buf[offset + i] != other[i]) return false;
            return true;
        }
    }
}
