// A small JSON reader (RFC 8259) for the avatar mesh JSON and the golden-vector tests, so the package needs no
// JSON library. Values: null, bool, long (integers without fraction or exponent), double, string,
// List<object>, MsgPackMap (keeps key order). By default an array made only of numbers becomes a double[]: mesh
// files hold millions of numbers and boxing each would be slow. Parse(text, false) keeps every array a List<object>
// whose integers stay long, the exact form a msgpack decode gives (the golden-vector checks need that).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace VasaBridge
{
    public sealed class JsonException : Exception
    {
        public JsonException(string message) : base(message) { }
    }

    public static class Json
    {
        public static object Parse(string text)
        {
            return Parse(text, true);
        }

        /// <summary>`numberArraysAsDoubles`: false keeps numeric arrays as List&lt;object&gt; (long / double
        /// elements, as written), true packs them into double[] (fast, but 256 and 256.0 look the same).</summary>
        public static object Parse(string text, bool numberArraysAsDoubles)
        {
            if (text == null) throw new ArgumentNullException("text");
            var p = new Parser(text, numberArraysAsDoubles);
            p.SkipWs();
            object v = p.Value(0);
            p.SkipWs();
            if (p.Pos != text.Length) throw p.Error("trailing characters after the JSON value");
            return v;
        }

        sealed class Parser
        {
            readonly string _s;
            public int Pos;
            readonly StringBuilder _sb = new StringBuilder();
            readonly List<double> _numbers = new List<double>();

            readonly bool _packNumbers;

            public Parser(string s, bool packNumbers) { _s = s; _packNumbers = packNumbers; }

            public JsonException Error(string what)
            {
                int line = 1;
                for (int i = 0; i < Pos && i < _s.Length; i++) if (_s[i] == '\n') line++;
                return new JsonException("invalid JSON at line " + line + " (offset " + Pos + "): " + what);
            }

            public void SkipWs()
            {
                while (Pos < _s.Length)
                {
                    char c = _s[Pos];
                    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') Pos++;
                    else break;
                }
            }

            char Peek()
            {
                if (Pos >= _s.Length) throw Error("unexpected end of input");
                return _s[Pos];
            }

            public object Value(int depth)
            {
                if (depth > 256) throw Error("nested too deeply");
                char c = Peek();
                switch (c)
                {
                    case '{': return Object(depth);
                    case '[': return Array(depth);
                    case '"': return String();
                    case 't': Literal("true"); return true;
                    case 'f': Literal("false"); return false;
                    case 'n': Literal("null"); return null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return Number();
                        throw Error("unexpected character '" + c + "'");
                }
            }

            void Literal(string word)
            {
                if (string.CompareOrdinal(_s, Pos, word, 0, word.Length) != 0) throw Error("expected '" + word + "'");
                Pos += word.Length;
            }

            MsgPackMap Object(int depth)
            {
                Pos++;
                var map = new MsgPackMap();
                SkipWs();
                if (Peek() == '}') { Pos++; return map; }
                while (true)
                {
                    SkipWs();
                    if (Peek() != '"') throw Error("expected a string key");
                    string key = String();
                    SkipWs();
                    if (Peek() != ':') throw Error("expected ':'");
                    Pos++;
                    SkipWs();
                    map[key] = Value(depth + 1);
                    SkipWs();
                    char c = Peek();
                    Pos++;
                    if (c == '}') return map;
                    if (c != ',') throw Error("expected ',' or '}'");
                }
            }

            object Array(int depth)
            {
                Pos++;
                SkipWs();
                if (Peek() == ']') { Pos++; return new List<object>(); }
                char first = Peek();
                if (_packNumbers && (first == '-' || (first >= '0' && first <= '9')))
                {
                    // Fast path: a numeric array becomes double[]; fall back if a non-number shows up.
                    int start = Pos;
                    _numbers.Clear();
                    while (true)
                    {
                        SkipWs();
                        char c = Peek();
                        if (!(c == '-' || (c >= '0' && c <= '9'))) break;
                        _numbers.Add(NumberAsDouble());
                        SkipWs();
                        c = Peek();
                        Pos++;
                        if (c == ']') return _numbers.ToArray();
                        if (c != ',') throw Error("expected ',' or ']'");
                    }
                    Pos = start;
                }
                var list = new List<object>();
                while (true)
                {
                    SkipWs();
                    list.Add(Value(depth + 1));
                    SkipWs();
                    char c = Peek();
                    Pos++;
                    if (c == ']') return list;
                    if (c != ',') throw Error("expected ',' or ']'");
                }
            }

            string String()
            {
                Pos++; // opening quote
                _sb.Length = 0;
                while (true)
                {
                    char c = Peek();
                    Pos++;
                    if (c == '"') return _sb.ToString();
                    if (c < 0x20) throw Error("control character in string");
                    if (c != '\\') { _sb.Append(c); continue; }
                    char e = Peek();
                    Pos++;
                    switch (e)
                    {
                        case '"': _sb.Append('"'); break;
                        case '\\': _sb.Append('\\'); break;
                        case '/': _sb.Append('/'); break;
                        case 'b': _sb.Append('\b'); break;
                        case 'f': _sb.Append('\f'); break;
                        case 'n': _sb.Append('\n'); break;
                        case 'r': _sb.Append('\r'); break;
                        case 't': _sb.Append('\t'); break;
                        case 'u':
                            if (Pos + 4 > _s.Length) throw Error("truncated \\u escape");
                            int code;
                            if (!int.TryParse(_s.Substring(Pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out code))
                                throw Error("bad \\u escape");
                            _sb.Append((char)code);
                            Pos += 4;
                            break;
                        default: throw Error("bad escape '\\" + e + "'");
                    }
                }
            }

            int ScanNumber(out bool isFloat)
            {
                int start = Pos;
                isFloat = false;
                if (_s[Pos] == '-') Pos++;
                int digits = Pos;
                while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                if (Pos == digits) throw Error("expected digits");
                if (Pos < _s.Length && _s[Pos] == '.')
                {
                    isFloat = true;
                    Pos++;
                    int frac = Pos;
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                    if (Pos == frac) throw Error("expected digits after '.'");
                }
                if (Pos < _s.Length && (_s[Pos] == 'e' || _s[Pos] == 'E'))
                {
                    isFloat = true;
                    Pos++;
                    if (Pos < _s.Length && (_s[Pos] == '+' || _s[Pos] == '-')) Pos++;
                    int exp = Pos;
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                    if (Pos == exp) throw Error("expected exponent digits");
                }
                return start;
            }

            object Number()
            {
                bool isFloat;
                int start = ScanNumber(out isFloat);
                string t = _s.Substring(start, Pos - start);
                if (!isFloat)
                {
                    long l;
                    if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                }
                return double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
            }

            double NumberAsDouble()
            {
                bool isFloat;
                int start = ScanNumber(out isFloat);
                // Plain decimals ("-0.012345") are parsed by hand: no substring per number.
                int i = start;
                bool neg = _s[i] == '-';
                if (neg) i++;
                if (Pos - start <= 16 && !HasExponent(start, Pos)) // <= 15 digits: mantissa and 10^scale are exact doubles
                {
                    long mant = 0;
                    int scale = 0;
                    bool frac = false;
                    for (; i < Pos; i++)
                    {
                        char c = _s[i];
                        if (c == '.') { frac = true; continue; }
                        mant = mant * 10 + (c - '0');
                        if (frac) scale++;
                    }
                    double v = mant / Pow10[scale];
                    return neg ? -v : v;
                }
                return double.Parse(_s.Substring(start, Pos - start), NumberStyles.Float, CultureInfo.InvariantCulture);
            }

            bool HasExponent(int from, int to)
            {
                for (int i = from; i < to; i++) if (_s[i] == 'e' || _s[i] == 'E') return true;
                return false;
            }

            static readonly double[] Pow10 =
            {
                1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            };
        }
    }
}
