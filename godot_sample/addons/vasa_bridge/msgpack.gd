class_name VasaMsgpack
extends RefCounted
## MessagePack for the vasa_bridge protocol (protocol/SPEC.md §2), in plain GDScript so it runs on every export
## target (web included: no GDExtension there).
##
## Types: nil <-> null, bool, int (all msgpack integer widths), float (float32 and float64 decode to float; floats
## encode as float64 like the server), str <-> String, bin <-> PackedByteArray, array <-> Array, map <-> Dictionary.
## Encoding picks the smallest width, as Python's msgpack does, so a decoded golden vector re-encodes to the same
## bytes. Extension types are rejected (the protocol forbids them).

## Nesting deeper than this is refused, so a hostile message cannot exhaust the call stack.
const MAX_DEPTH: int = 32


## Result of `decode`: `ok` is false when the bytes are not exactly one well-formed msgpack value.
class Decoded:
	extends RefCounted
	var ok: bool = false
	var value: Variant = null
	var error: String = ""


static func encode(value: Variant) -> PackedByteArray:
	var out := StreamPeerBuffer.new()
	out.big_endian = true
	_write(out, value)
	return out.data_array


static func decode(bytes: PackedByteArray) -> Decoded:
	var result := Decoded.new()
	var reader := _Reader.new(bytes)
	var value: Variant = reader.read_value(0)
	if reader.error != "":
		result.error = reader.error
	elif reader.pos != bytes.size():
		result.error = "%d trailing bytes after the msgpack value" % (bytes.size() - reader.pos)
	else:
		result.ok = true
		result.value = value
	return result


static func _write(out: StreamPeerBuffer, value: Variant) -> void:
	match typeof(value):
		TYPE_NIL:
			out.put_u8(0xc0)
		TYPE_BOOL:
			out.put_u8(0xc3 if value else 0xc2)
		TYPE_INT:
			_write_int(out, value)
		TYPE_FLOAT:
			out.put_u8(0xcb)
			out.put_double(value)
		TYPE_STRING, TYPE_STRING_NAME:
			var utf8: PackedByteArray = String(value).to_utf8_buffer()
			var n: int = utf8.size()
			if n < 32:
				out.put_u8(0xa0 | n)
			elif n < 0x100:
				out.put_u8(0xd9)
				out.put_u8(n)
			elif n < 0x10000:
				out.put_u8(0xda)
				out.put_u16(n)
			else:
				out.put_u8(0xdb)
				out.put_u32(n)
			out.put_data(utf8)
		TYPE_PACKED_BYTE_ARRAY:
			var blob: PackedByteArray = value
			var n: int = blob.size()
			if n < 0x100:
				out.put_u8(0xc4)
				out.put_u8(n)
			elif n < 0x10000:
				out.put_u8(0xc5)
				out.put_u16(n)
			else:
				out.put_u8(0xc6)
				out.put_u32(n)
			out.put_data(blob)
		TYPE_DICTIONARY:
			var dict: Dictionary = value
			_write_header(out, dict.size(), 0x80, 0xde, 0xdf)
			for key: Variant in dict:
				_write(out, key)
				_write(out, dict[key])
		_:
			if value is Array or typeof(value) >= TYPE_PACKED_INT32_ARRAY:
				_write_header(out, value.size(), 0x90, 0xdc, 0xdd)
				for item: Variant in value:
					_write(out, item)
			else:
				push_error("VasaMsgpack: cannot encode a value of type %s" % type_string(typeof(value)))
				out.put_u8(0xc0)


static func _write_header(out: StreamPeerBuffer, n: int, fix: int, code16: int, code32: int) -> void:
	if n < 16:
		out.put_u8(fix | n)
	elif n < 0x10000:
		out.put_u8(code16)
		out.put_u16(n)
	else:
		out.put_u8(code32)
		out.put_u32(n)


static func _write_int(out: StreamPeerBuffer, v: int) -> void:
	if v >= 0:
		if v < 0x80:
			out.put_u8(v)
		elif v < 0x100:
			out.put_u8(0xcc)
			out.put_u8(v)
		elif v < 0x10000:
			out.put_u8(0xcd)
			out.put_u16(v)
		elif v < 0x100000000:
			out.put_u8(0xce)
			out.put_u32(v)
		else:
			out.put_u8(0xcf)
			out.put_u64(v)
	elif v >= -32:
		out.put_u8(v & 0xff)
	elif v >= -0x80:
		out.put_u8(0xd0)
		out.put_8(v)
	elif v >= -0x8000:
		out.put_u8(0xd1)
		out.put_16(v)
	elif v >= -0x80000000:
		out.put_u8(0xd2)
		out.put_32(v)
	else:
		out.put_u8(0xd3)
		out.put_64(v)


## Cursor over the bytes; every read checks the remaining length first, so truncated input is an error, never an
## out-of-range read.
class _Reader:
	extends RefCounted
	var bytes: PackedByteArray
	var pos: int = 0
	var error: String = ""
	var _buf: StreamPeerBuffer

	func _init(data: PackedByteArray) -> void:
		bytes = data
		_buf = StreamPeerBuffer.new()
		_buf.big_endian = true
		_buf.data_array = data

	func _need(n: int) -> bool:
		if pos + n > bytes.size():
			if error == "":
				error = "truncated: need %d bytes at offset %d, have %d" % [n, pos, bytes.size() - pos]
			return false
		return true

	func _uint(n: int) -> int:
		if not _need(n):
			return 0
		_buf.seek(pos)
		pos += n
		match n:
			1:
				return _buf.get_u8()
			2:
				return _buf.get_u16()
			4:
				return _buf.get_u32()
		return _buf.get_u64()

	func _sint(n: int) -> int:
		if not _need(n):
			return 0
		_buf.seek(pos)
		pos += n
		match n:
			1:
				return _buf.get_8()
			2:
				return _buf.get_16()
			4:
				return _buf.get_32()
		return _buf.get_64()

	func _raw(n: int) -> PackedByteArray:
		if not _need(n):
			return PackedByteArray()
		var out: PackedByteArray = bytes.slice(pos, pos + n)
		pos += n
		return out

	func _str(n: int) -> String:
		return _raw(n).get_string_from_utf8()

	func read_value(depth: int) -> Variant:
		if depth > MAX_DEPTH:
			error = "nested deeper than %d levels" % MAX_DEPTH
			return null
		if not _need(1):
			return null
		var b: int = bytes[pos]
		pos += 1
		if b <= 0x7f:
			return b
		if b >= 0xe0:
			return b - 0x100
		if b & 0xe0 == 0xa0:
			return _str(b & 0x1f)
		if b & 0xf0 == 0x90:
			return _array(b & 0x0f, depth)
		if b & 0xf0 == 0x80:
			return _map(b & 0x0f, depth)
		match b:
			0xc0:
				return null
			0xc2:
				return false
			0xc3:
				return true
			0xc4, 0xc5, 0xc6:
				return _raw(_uint(1 << (b - 0xc4)))
			0xca:
				if not _need(4):
					return null
				_buf.seek(pos)
				pos += 4
				return _buf.get_float()
			0xcb:
				if not _need(8):
					return null
				_buf.seek(pos)
				pos += 8
				return _buf.get_double()
			0xcc, 0xcd, 0xce, 0xcf:
				return _uint(1 << (b - 0xcc))
			0xd0, 0xd1, 0xd2, 0xd3:
				return _sint(1 << (b - 0xd0))
			0xd9, 0xda, 0xdb:
				return _str(_uint(1 << (b - 0xd9)))
			0xdc, 0xdd:
				return _array(_uint(2 << (b - 0xdc)), depth)
			0xde, 0xdf:
				return _map(_uint(2 << (b - 0xde)), depth)
		if b == 0xc1:
			error = "byte 0xc1 at offset %d is never used in msgpack" % (pos - 1)
		else:
			error = "msgpack extension type 0x%02x at offset %d: the protocol forbids extensions" % [b, pos - 1]
		return null

	func _array(n: int, depth: int) -> Array:
		var out: Array = []
		# Every element takes at least one byte: a count larger than what is left is a lie, not a reason to
		# allocate.
		if error != "" or not _need(n):
			return out
		for i: int in n:
			out.append(read_value(depth + 1))
			if error != "":
				break
		return out

	func _map(n: int, depth: int) -> Dictionary:
		var out: Dictionary = {}
		if error != "" or not _need(2 * n):
			return out
		for i: int in n:
			var key: Variant = read_value(depth + 1)
			var value: Variant = read_value(depth + 1)
			if error != "":
				break
			out[key] = value
		return out
