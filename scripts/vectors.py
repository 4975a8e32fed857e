#!/usr/bin/env python3
"""Known-answer vectors for Agora's byte formats, from an independent implementation.

Everything here is written from the public specifications (RFC 8032 for
ed25519, BIP 350 for bech32m, RFC 9162 for the Merkle tree split, the
Protocol Buffers wire format) and from the layout rules in docs/, not from
the C++ code paths it checks: the C++ uses libsodium and libprotobuf, this
uses Python big integers, hashlib and a hand-written protobuf encoder. When
the two agree, another implementation that follows the same documents will
agree too; tests/consensus/known_answer_test.cc holds the C++ side.

Standard library only. Usage:

    python3 scripts/vectors.py > docs/vectors.md   # the document
    python3 scripts/vectors.py --cpp               # the hex constants, as C++

Every input is fixed, so the output never changes unless a rule here does.
"""

import hashlib
import struct
import sys

CHAIN_ID = "vectors-chain"


# ---------------------------------------------------------------------------
# Hashing

def blake2b(data, size=32):
    """Unkeyed BLAKE2b with a `size`-byte digest (libsodium crypto_generichash)."""
    return hashlib.blake2b(data, digest_size=size).digest()


def pattern(n, first):
    """n bytes counting up from `first`, wrapping at 256: an opaque test value."""
    return bytes((first + i) & 0xFF for i in range(n))


# ---------------------------------------------------------------------------
# ed25519, from RFC 8032 section 5.1 (twisted Edwards curve, extended
# coordinates X:Y:Z:T with x = X/Z, y = Y/Z, x*y = T/Z).

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod P


def _inv(x):
    return pow(x, P - 2, P)


def _recover_x(y, sign):
    """The x with the given low bit on the curve at y, or None."""
    if y >= P:
        return None
    x2 = (y * y - 1) * _inv(D * y * y + 1) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


_BY = 4 * _inv(5) % P
_BX = _recover_x(_BY, 0)
BASE = (_BX, _BY, 1, _BX * _BY % P)
IDENTITY = (0, 1, 1, 0)


def _add(p1, p2):
    # The complete addition law for a = -1 (RFC 8032 5.1.4); it also doubles.
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(k, point):
    result = IDENTITY
    while k > 0:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def _encode_point(point):
    x, y, z, _ = point
    zi = _inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode_point(b):
    v = int.from_bytes(b, "little")
    y, sign = v & ((1 << 255) - 1), v >> 255
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _h_int(data):
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def _expand_seed(seed):
    assert len(seed) == 32
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8  # clear the low 3 bits and bit 255
    a |= 1 << 254
    return a, h[32:]


def ed25519_public_key(seed):
    a, _ = _expand_seed(seed)
    return _encode_point(_mul(a, BASE))


def ed25519_sign(seed, message):
    a, prefix = _expand_seed(seed)
    public = _encode_point(_mul(a, BASE))
    r = _h_int(prefix + message) % L
    big_r = _encode_point(_mul(r, BASE))
    k = _h_int(big_r + public + message) % L
    s = (r + k * a) % L
    return big_r + s.to_bytes(32, "little")


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a_point = _decode_point(public)
    r_point = _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a_point is None or r_point is None or s >= L:
        return False
    k = _h_int(signature[:32] + public + message) % L
    left = _encode_point(_mul(s, BASE))
    right = _encode_point(_add(r_point, _mul(k, a_point)))
    return left == right


# ---------------------------------------------------------------------------
# bech32m, from BIP 173 (the checksum's polynomial) and BIP 350 (its constant).

BECH32_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values):
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i, g in enumerate(_GEN):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_values(hrp):
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_5bit(data):
    """Regroups bytes into 5-bit values, zero-padding the last one."""
    acc, bits, out = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def bech32m_encode(hrp, values):
    poly = _polymod(_hrp_values(hrp) + values + [0] * 6) ^ BECH32M_CONST
    checksum = [(poly >> (5 * (5 - i))) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_ALPHABET[v] for v in values + checksum)


def address_bytes(public_key):
    return blake2b(public_key, 20)


def address_text(public_key):
    return bech32m_encode("agora", _to_5bit(address_bytes(public_key)))


# ---------------------------------------------------------------------------
# Protocol Buffers wire format, by hand: fields in ascending field number,
# proto3 scalars and strings/bytes left out when zero or empty, a set oneof
# member always written (even an empty message), repeated messages one
# record each. This is what libprotobuf's deterministic serialization
# produces for these messages (common/proto_codec.cc EncodeDeterministic).

VARINT, LEN = 0, 2  # the two wire types these messages use


def varint(n):
    assert n >= 0
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Message:
    """A protobuf message being written, with a record of what each byte is."""

    def __init__(self):
        self.parts = []  # (field number, name, key+length bytes, value bytes, note)

    def _put(self, number, name, wire, value, note, length=False):
        assert not self.parts or self.parts[-1][0] <= number, "fields out of order"
        head = varint((number << 3) | wire)
        if length:
            head += varint(len(value))
        self.parts.append((number, name, head, value, note))
        return self

    def uint(self, number, name, value):
        if value == 0:
            return self  # proto3 default: not on the wire
        return self._put(number, name, VARINT, varint(value), f"varint {value}")

    def bytes_(self, number, name, value, note=None):
        if not value:
            return self
        return self._put(number, name, LEN, bytes(value), note or f"{len(value)} bytes", True)

    def string(self, number, name, value):
        if not value:
            return self
        return self._put(number, name, LEN, value.encode(), repr(value), True)

    def message(self, number, name, sub, always=False):
        enc = sub.encode()
        if not enc and not always:
            return self
        return self._put(number, name, LEN, enc, f"message, {len(enc)} bytes", True)

    def encode(self):
        return b"".join(head + value for _, _, head, value, _ in self.parts)

    def layout(self):
        """Markdown table rows: one per field written."""
        rows = ["| field | key, length | value | |", "|---|---|---|---|"]
        for number, name, head, value, note in self.parts:
            shown = value.hex() if len(value) <= 40 else value[:20].hex() + "..."
            rows.append(f"| {number} `{name}` | `{head.hex()}` | `{shown}` | {note} |")
        return "\n".join(rows)


# ---------------------------------------------------------------------------
# Agora's rules (docs/signing.md, consensus/types.h).

def signing_bytes(kind, payload, chain_id=CHAIN_ID):
    """'agora-sig-v1' 0x00 | u8 len, chain id | u8 len, kind | payload."""
    c, k = chain_id.encode(), kind.encode()
    return b"agora-sig-v1\x00" + bytes([len(c)]) + c + bytes([len(k)]) + k + payload


def vote_sign_bytes(vote_type, height, round_, block):
    """type u8 (1 prevote, 2 precommit) | height u64 BE | round u32 BE | has_block u8 | block."""
    out = bytes([vote_type]) + height.to_bytes(8, "big") + round_.to_bytes(4, "big")
    if block is None:
        return out + b"\x00"
    return out + b"\x01" + block


def proposal_sign_bytes(height, round_, valid_round, block):
    """height u64 BE | round u32 BE | valid_round i32 BE (two's complement) | block."""
    return (height.to_bytes(8, "big") + round_.to_bytes(4, "big") +
            (valid_round & 0xFFFFFFFF).to_bytes(4, "big") + block)


def merkle_leaf(data):
    return blake2b(b"\x00" + data)


def merkle_node(left, right):
    return blake2b(b"\x01" + left + right)


def _split(n):
    """RFC 9162 2.1.1: the largest power of two strictly below n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return merkle_node(_mth(leaves[:k]), _mth(leaves[k:]))


def merkle_root(items):
    if not items:
        return bytes(32)
    return _mth([merkle_leaf(x) for x in items])


def merkle_path(items, index):
    """RFC 9162 2.1.3.1 PATH(m, D[n]): siblings from the leaf up."""
    def path(leaves, m):
        if len(leaves) <= 1:
            return []
        k = _split(len(leaves))
        if m < k:
            return path(leaves[:k], m) + [_mth(leaves[k:])]
        return path(leaves[k:], m - k) + [_mth(leaves[:k])]
    return path([merkle_leaf(x) for x in items], index)


def merkle_verify(root, item, index, size, siblings):
    """RFC 9162 2.1.3.2, written again here rather than recomputing with _mth."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, merkle_leaf(item)
    for p in siblings:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = merkle_node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = merkle_node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ---------------------------------------------------------------------------
# Self-checks against the specifications' own published vectors, so a slip in
# the code above cannot pass for a vector.

def self_check():
    # RFC 8032 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert ed25519_public_key(seed).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert ed25519_sign(seed, b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    seed = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
    assert ed25519_public_key(seed).hex() == (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    sig = ed25519_sign(seed, b"\x72")
    assert sig.hex() == (
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
        "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    assert ed25519_verify(ed25519_public_key(seed), b"\x72", sig)
    assert not ed25519_verify(ed25519_public_key(seed), b"\x73", sig)
    # BIP 350's valid bech32m strings "a1lqfn3a" (no data) and
    # "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx" (the values 31 down to 0).
    assert bech32m_encode("a", []) == "a1lqfn3a"
    assert bech32m_encode("abcdef", list(range(31, -1, -1))) == (
        "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx")
    # BLAKE2b-512 of "abc" (RFC 7693 appendix A), so hashlib is what we think.
    assert blake2b(b"abc", 64).hex().startswith("ba80a53f981c4d0d6a2797b69f12f6e9")
    # The recursive RFC 9162 split equals pairing each level and carrying an
    # odd node up (docs/merkle.md says both build one tree).
    for n in range(1, 40):
        items = [bytes([i]) * 32 for i in range(n)]
        level = [merkle_leaf(x) for x in items]
        while len(level) > 1:
            nxt = [merkle_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        assert level[0] == merkle_root(items)
        for i in range(n):
            assert merkle_verify(level[0], items[i], i, n, merkle_path(items, i))


# ---------------------------------------------------------------------------
# The vectors. Each builder returns (markdown, [(C++ name, hex)]).

SEED_ALICE = bytes([0x07]) * 32
SEED_BOB = bytes([0x09]) * 32
SEED_VALIDATORS = [bytes([0x11 + i]) * 32 for i in range(3)]

VOTE_HEIGHT = 66051  # 0x010203: shows the byte order
VOTE_ROUND = 2
VOTE_BLOCK = blake2b(b"vectors/block")


def code(text):
    return "```\n" + text + "\n```"


class Doc:
    def __init__(self):
        self.out = []
        self.consts = []

    def p(self, *lines):
        self.out.extend(lines)
        self.out.append("")

    def hexval(self, label, value, const=None):
        """A labelled hex value; `const` names its C++ constant."""
        self.out.append(f"{label} ({len(value)} bytes):")
        self.out.append("")
        self.out.append(code(value.hex()))
        self.out.append("")
        if const:
            self.consts.append((const, value.hex()))


def tx_body(seed, nonce, fee, payload_number, payload_name, payload):
    body = Message()
    body.string(1, "chain_id", CHAIN_ID)
    body.uint(2, "nonce", nonce)
    body.uint(3, "fee_uagr", fee)
    body.bytes_(4, "sender", ed25519_public_key(seed), "32-byte ed25519 key")
    body.message(payload_number, payload_name, payload, always=True)
    return body


def signed_tx(body_bytes, seed):
    sig = ed25519_sign(seed, signing_bytes("transaction", body_bytes))
    env = Message()
    env.bytes_(1, "body", body_bytes, "the TxBody bytes above")
    env.bytes_(2, "public_key", ed25519_public_key(seed), "32-byte ed25519 key")
    env.bytes_(3, "signature", sig, "64-byte ed25519 signature")
    return env, sig


def transactions():
    """The three transactions, in block order: (name, C++ prefix, body, SignedTx, signature)."""
    bob_address = address_bytes(ed25519_public_key(SEED_BOB))
    alice_address = address_bytes(ed25519_public_key(SEED_ALICE))
    out = []
    spec = [
        ("transfer: Alice pays Bob 1234567 uagr, nonce 0, fee 2000", "kTxTransfer", SEED_ALICE,
         0, 2000, 10, "transfer",
         Message().bytes_(1, "to", bob_address, "20-byte address").uint(2, "amount_uagr",
                                                                       1234567)),
        ("stake: Alice bonds 2^40 uagr, nonce 1, fee 500", "kTxStake", SEED_ALICE,
         1, 500, 11, "stake", Message().uint(1, "amount_uagr", 1 << 40)),
        ("transfer: Bob pays Alice 1 uagr, nonce 300, fee 150", "kTxBobTransfer", SEED_BOB,
         300, 150, 10, "transfer",
         Message().bytes_(1, "to", alice_address, "20-byte address").uint(2, "amount_uagr", 1)),
    ]
    for title, prefix, seed, nonce, fee, number, name, payload in spec:
        body = tx_body(seed, nonce, fee, number, name, payload)
        env, sig = signed_tx(body.encode(), seed)
        out.append((title, prefix, seed, body, env, sig))
    return out


def section_keys(doc):
    doc.p("## Keys", "",
          "All keys are RFC 8032 ed25519 keys derived from a 32-byte seed "
          "(libsodium `crypto_sign_seed_keypair`, `SecretKey::FromSeed`).", "",
          "| name | seed | public key |", "|---|---|---|",
          *[f"| {n} | 32 x `{s[0]:02x}` | `{ed25519_public_key(s).hex()}` |"
            for n, s in [("Alice", SEED_ALICE), ("Bob", SEED_BOB)] +
            [(f"validator {i}", s) for i, s in enumerate(SEED_VALIDATORS)]])
    doc.consts.append(("kAlicePublicKey", ed25519_public_key(SEED_ALICE).hex()))


def section_transactions(doc, txs):
    doc.p("## 1. Transactions: body, sign bytes, signature, id",
          "",
          "A transaction travels as a `SignedTx` (proto/tx.proto) whose `body` field holds the "
          "serialized `TxBody` exactly as it was signed (`MakeTx`, consensus/ledger/tx.cc).",
          "",
          "- **Body**: `TxBody` in protobuf wire format, fields in ascending number, zero and "
          "empty proto3 fields left out (a nonce of 0 is not on the wire), the one `payload` "
          "message always written.",
          "- **Sign bytes**: `\"agora-sig-v1\" 0x00 | u8 len(chain_id) chain_id | u8 len(kind) "
          "kind | payload` with kind `transaction` and the body as payload "
          "(`SigningBytes`, common/keys.cc; docs/signing.md).",
          "- **Signature**: ed25519 (RFC 8032, deterministic) over the sign bytes.",
          "- **Transaction id**: BLAKE2b-256 of the body bytes alone (not of the `SignedTx`): "
          "`Tx::hash` from `DecodeTx`.",
          "",
          f"Chain id: `{CHAIN_ID}` (13 bytes).")
    for title, prefix, seed, body, env, sig in txs:
        body_bytes = body.encode()
        sb = signing_bytes("transaction", body_bytes)
        assert ed25519_verify(ed25519_public_key(seed), sb, sig)
        doc.p(f"### {title}", "", "`TxBody` fields as written:", "", body.layout())
        doc.hexval("Body", body_bytes, prefix + "Body")
        doc.hexval("Sign bytes", sb, prefix + "SignBytes")
        doc.hexval("Signature", sig, prefix + "Signature")
        doc.p("`SignedTx` fields as written:", "", env.layout())
        doc.hexval("`SignedTx` (what `MakeTx` returns and the network carries)", env.encode(),
                   prefix + "Signed")
        doc.hexval("Transaction id = BLAKE2b-256(body)", blake2b(body_bytes), prefix + "Id")


def section_possession(doc):
    validator = SEED_VALIDATORS[0]
    operator = address_bytes(ed25519_public_key(SEED_ALICE))
    sb = signing_bytes("validator_key", operator)
    sig = ed25519_sign(validator, sb)
    doc.p("### Proof of possession (CreateValidator.possession)", "",
          "The consensus key (validator 0) signs the operator's 20-byte address (Alice's) "
          "under kind `validator_key` (`ProvePossession`, consensus/ledger/tx.cc).")
    doc.hexval("Sign bytes", sb, "kPossessionSignBytes")
    doc.hexval("Signature", sig, "kPossessionSignature")


def section_tx_root(doc, txs):
    raws = [env.encode() for _, _, _, _, env, _ in txs]
    items = [blake2b(r) for r in raws]
    doc.p("## 2. Transaction root (`BlockHeader.tx_root`)", "",
          "The Merkle root (section 7) over one 32-byte item per transaction, in block order. "
          "**The item is BLAKE2b-256 of the whole `SignedTx` bytes as carried in `Block.txs` "
          "(signature included), not the transaction id**: `Chain::Propose` and "
          "`Chain::ValidateBlock` (consensus/chain/chain.cc) both hash `tx.raw`, and "
          "docs/node.md says \"tx root over the raw transactions\". Each item is then hashed "
          "again as a Merkle leaf (0x00 tag), so a one-transaction root is not the item itself. "
          "A block without transactions has the zero hash.", "",
          "Transactions: the three of section 1, in that order.")
    for i, item in enumerate(items):
        doc.hexval(f"Item {i} = BLAKE2b-256(SignedTx {i})", item, f"kTxRootItem{i}")
    doc.hexval("Root of no transactions", merkle_root([]))
    doc.hexval("Root of [tx 0]", merkle_root(items[:1]), "kTxRoot1")
    doc.hexval("Root of [tx 0, tx 1]", merkle_root(items[:2]), "kTxRoot2")
    doc.hexval("Root of [tx 0, tx 1, tx 2]", merkle_root(items), "kTxRoot3")


def header_full():
    h = Message()
    h.uint(1, "version", 1)
    h.string(2, "chain_id", CHAIN_ID)
    h.uint(3, "height", 66052)
    h.uint(4, "time_unix_ms", 1_700_000_000_123)
    h.bytes_(5, "proposer", address_bytes(ed25519_public_key(SEED_VALIDATORS[0])),
             "validator 0's address")
    h.bytes_(6, "prev_block_hash", pattern(32, 0x10), "pattern(32, 0x10)")
    h.bytes_(7, "last_commit_hash", pattern(32, 0x30), "pattern(32, 0x30)")
    h.bytes_(8, "tx_root", pattern(32, 0x50), "pattern(32, 0x50)")
    h.bytes_(9, "app_hash", pattern(32, 0x70), "pattern(32, 0x70)")
    h.bytes_(10, "validators_hash", pattern(32, 0x90), "pattern(32, 0x90)")
    h.bytes_(11, "vrf_output", pattern(64, 0xB0), "pattern(64, 0xb0)")
    h.bytes_(12, "vrf_proof", pattern(80, 0x00), "pattern(80, 0x00)")
    h.bytes_(13, "results_hash", pattern(32, 0xD0), "pattern(32, 0xd0)")
    h.bytes_(14, "evidence_hash", pattern(32, 0xF0), "pattern(32, 0xf0), wraps to 0x0f")
    return h


def header_first():
    # Height 1 as Chain::Propose builds it: no previous block, no last commit,
    # so fields 6 and 7 are absent (empty bytes), not 32 zero bytes.
    h = Message()
    h.uint(1, "version", 1)
    h.string(2, "chain_id", CHAIN_ID)
    h.uint(3, "height", 1)
    h.uint(4, "time_unix_ms", 1_700_000_000_000)
    h.bytes_(5, "proposer", address_bytes(ed25519_public_key(SEED_VALIDATORS[0])),
             "validator 0's address")
    h.bytes_(8, "tx_root", bytes(32), "32 zero bytes (no transactions)")
    h.bytes_(9, "app_hash", pattern(32, 0x70), "pattern(32, 0x70)")
    h.bytes_(10, "validators_hash", pattern(32, 0x90), "pattern(32, 0x90)")
    h.bytes_(11, "vrf_output", pattern(64, 0xB0), "pattern(64, 0xb0)")
    h.bytes_(12, "vrf_proof", pattern(80, 0x00), "pattern(80, 0x00)")
    h.bytes_(13, "results_hash", pattern(32, 0xD0), "pattern(32, 0xd0)")
    h.bytes_(14, "evidence_hash", pattern(32, 0xF0), "pattern(32, 0xf0)")
    return h


def section_header(doc):
    doc.p("## 3. Block header hash", "",
          "The block hash is BLAKE2b-256 of the `BlockHeader` (proto/block.proto) in protobuf "
          "wire format, fields in ascending number, empty fields left out (`HeaderHash`, "
          "consensus/chain/block.cc). A bytes field holding 32 zero bytes is not empty and is "
          "written. `pattern(n, b)` below is the n bytes b, b+1, b+2, ... (mod 256), standing "
          "for hashes whose own derivation is not this vector's concern.")
    for title, h, prefix in [("Header at height 66052, every field set", header_full(),
                              "kHeaderFull"),
                             ("First block (height 1: no `prev_block_hash`, no "
                              "`last_commit_hash`)", header_first(), "kHeaderFirst")]:
        enc = h.encode()
        doc.p(f"### {title}", "", h.layout())
        doc.hexval("Header bytes", enc, prefix + "Bytes")
        doc.hexval("Block hash = BLAKE2b-256(header bytes)", blake2b(enc), prefix + "Hash")


def section_votes(doc):
    doc.p("## 4. Votes, proposals and commits", "",
          "Consensus messages sign fixed big-endian layouts, not protobuf "
          "(consensus/types.cc), wrapped in the signing bytes of section 1 with the kind "
          "`prevote`, `precommit` or `proposal`:", "",
          code("vote:     type u8 (1 prevote, 2 precommit) | height u64 | round u32 |\n"
               "          has_block u8 (0 nil, 1 a block) | block 32 bytes if has_block\n"
               "proposal: height u64 | round u32 | valid_round i32 (-1 = ffffffff) | block 32"),
          "",
          f"Inputs: height {VOTE_HEIGHT} (0x010203), round {VOTE_ROUND}, block = "
          "BLAKE2b-256(\"vectors/block\"):")
    doc.hexval("Block", VOTE_BLOCK)
    pre = vote_sign_bytes(2, VOTE_HEIGHT, VOTE_ROUND, VOTE_BLOCK)
    doc.p("### Precommit for the block (what a commit signature covers)", "",
          "`VerifyCommit` (consensus/chain/block.cc) checks each `CommitSig` against these "
          "bytes under kind `precommit`; the validator index is not in them.")
    doc.hexval("Vote sign bytes", pre, "kPrecommitSignBytes")
    doc.hexval("Signing bytes (kind precommit)", signing_bytes("precommit", pre),
               "kPrecommitSigningBytes")
    sigs = [ed25519_sign(s, signing_bytes("precommit", pre)) for s in SEED_VALIDATORS]
    for i, sig in enumerate(sigs):
        doc.hexval(f"Validator {i}'s signature", sig, f"kPrecommitSignature{i}")
    nil = vote_sign_bytes(1, VOTE_HEIGHT, VOTE_ROUND, None)
    doc.p("### Prevote for nil")
    doc.hexval("Vote sign bytes", nil, "kPrevoteNilSignBytes")
    doc.hexval("Signing bytes (kind prevote)", signing_bytes("prevote", nil),
               "kPrevoteNilSigningBytes")
    prop = proposal_sign_bytes(VOTE_HEIGHT, VOTE_ROUND, -1, VOTE_BLOCK)
    doc.p("### Proposal (fresh value: valid_round -1), signed by validator 0")
    doc.hexval("Proposal sign bytes", prop, "kProposalSignBytes")
    doc.hexval("Signing bytes (kind proposal)", signing_bytes("proposal", prop),
               "kProposalSigningBytes")
    doc.hexval("Signature", ed25519_sign(SEED_VALIDATORS[0], signing_bytes("proposal", prop)),
               "kProposalSignature")
    prop1 = proposal_sign_bytes(VOTE_HEIGHT, VOTE_ROUND, 1, VOTE_BLOCK)
    doc.p("### Proposal re-proposing the polka of round 1 (valid_round 1)")
    doc.hexval("Proposal sign bytes", prop1, "kProposalValidRound1SignBytes")

    commit = Message()
    commit.uint(1, "height", VOTE_HEIGHT)
    commit.uint(2, "round", VOTE_ROUND)
    commit.bytes_(3, "block_hash", VOTE_BLOCK, "the block")
    for i, sig in enumerate(sigs):
        cs = Message().uint(1, "validator", i).bytes_(2, "signature", sig)
        commit.message(4, f"signatures[{i}]", cs, always=True)
    enc = commit.encode()
    doc.p("### Commit", "",
          "`MakeCommit` of the three precommits above (any order in, ascending validator index "
          "out), as a `Commit` message (proto/block.proto). `CommitSig.validator` is a proto3 "
          "uint32, so validator 0's entry has no field 1 at all: its record is "
          "`22 42 | 12 40 <signature>`. The commit hash is BLAKE2b-256 of these bytes "
          "(`CommitHash`), the next header's `last_commit_hash`.", "", commit.layout())
    doc.hexval("Commit bytes", enc, "kCommitBytes")
    doc.hexval("Commit hash = BLAKE2b-256(commit bytes)", blake2b(enc), "kCommitHash")


def section_addresses(doc):
    rows = [("Alice", ed25519_public_key(SEED_ALICE), "kAddressAlice"),
            ("Bob", ed25519_public_key(SEED_BOB), "kAddressBob"),
            ("validator 0", ed25519_public_key(SEED_VALIDATORS[0]), "kAddressValidator0"),
            ("32 zero bytes", bytes(32), "kAddressZeroKey")]
    table = ["| key | public key | BLAKE2b-160 | address |", "|---|---|---|---|"]
    for name, pub, const in rows:
        text = address_text(pub)
        assert len(text) == len("agora1") + 38
        table.append(f"| {name} | `{pub.hex()}` | `{address_bytes(pub).hex()}` | `{text}` |")
        doc.consts.append((const, text))
        doc.consts.append((const + "Bytes", address_bytes(pub).hex()))
    doc.p("## 5. Addresses", "",
          "An account address is the 20-byte BLAKE2b-160 (unkeyed BLAKE2b with a 20-byte "
          "digest, which is not a truncated BLAKE2b-256) of the 32-byte ed25519 public key, "
          "written in bech32m (BIP 350) with human-readable part `agora`: 32 data characters "
          "(160 bits in 5-bit groups) and 6 checksum characters, 38 after `agora1` "
          "(common/address.cc).", "", *table)


def checkpoint_vector(native_class=None):
    """(header bytes, whole file): a valid checkpoint of a 30-parameter model; in the
    native tier on `native_class` (format version 2) when it is given."""
    count = 30  # vocab 2, context 1, layers 1, heads 1, width 1: ModelConfig::ParameterCount
    out = bytearray(b"AGORACKP")
    out += struct.pack("<I", 1 if native_class is None else 2)  # format version
    out += struct.pack("<5I", 2, 1, 1, 1, 1)  # vocab, context, layers, heads, width
    if native_class is not None:
        out += struct.pack("<2B", 2, native_class)  # tier native, hardware class
    out += struct.pack("<2f", 0.25, 0.03125)  # lr_max, lr_min
    out += struct.pack("<2Q", 10, 1000)  # warmup_steps, total_steps
    out += struct.pack("<5f", 0.875, 127 / 128, 2.0 ** -20, 0.125, 1.0)
    out += struct.pack("<I", 2)  # batch
    out += struct.pack("<Q", 0x0102030405060708)  # seed
    out += blake2b(b"vectors/corpus")  # data hash
    out += struct.pack("<4Q", 3, 1, 12, 4)  # round, worker, step, round_step
    header = bytes(out)
    out += struct.pack("<Q", count)
    out += struct.pack(f"<{count}f", *[(i - 15) / 8 for i in range(count)])  # params
    out += struct.pack(f"<{count}f", *[i / 128 for i in range(count)])  # m
    out += struct.pack(f"<{count}f", *[i / 4096 for i in range(count)])  # v
    out += blake2b(bytes(out))
    # kCheckpointHeaderBytes, kCheckpointNativeHeaderBytes
    assert len(header) + 8 == (160 if native_class is None else 162)
    return header, bytes(out)


def section_checkpoint(doc):
    header, file = checkpoint_vector()
    doc.p("## 6. Checkpoint hash", "",
          "A checkpoint file (trainer/checkpoint.h), all numbers little-endian:", "",
          code('magic "AGORACKP" | version u32 = 1\n'
               "vocab, context, layers, heads, width   u32 each\n"
               "lr_max, lr_min f32 | warmup_steps, total_steps u64\n"
               "beta1, beta2, eps, weight_decay, clip_norm f32 | batch u32 | seed u64\n"
               "data hash (32) | round, worker, step, round_step u64\n"
               "count u64 | params, m, v: count f32 each\n"
               "trailer: BLAKE2b-256 of every byte before it"),
          "",
          "Its identity (blob name, Merkle leaf of a task's commitment) is BLAKE2b-256 of the "
          "**whole file, trailer included** (not the trailer itself).", "",
          "Inputs: the smallest valid model (vocab 2, context 1, layers 1, heads 1, width 1: "
          "30 parameters); lr_max 0.25, lr_min 0.03125, warmup_steps 10, total_steps 1000, "
          "beta1 0.875, beta2 127/128, eps 2^-20, weight_decay 0.125, clip_norm 1; batch 2; "
          "seed 0x0102030405060708; data hash BLAKE2b-256(\"vectors/corpus\"); round 3, "
          "worker 1, step 12, round_step 4; params[i] = (i - 15)/8, m[i] = i/128, "
          "v[i] = i/4096 for i in 0..29. Every float is exact in binary, so no decimal "
          "rounding enters.")
    doc.hexval("The fixed part, magic to round_step", header, "kCheckpointHeader")
    doc.hexval("Whole file", file)
    doc.hexval("Trailer = BLAKE2b-256(file without its last 32 bytes)", file[-32:],
               "kCheckpointTrailer")
    doc.hexval("Checkpoint hash = BLAKE2b-256(whole file)", blake2b(file), "kCheckpointHash")
    header, file = checkpoint_vector(native_class=3)
    doc.p("### A native-tier checkpoint (version 2)", "",
          "A native-tier state (trainer/config.h, docs/cuda.md) is written in version 2, which "
          "puts its tier (u8, 2 = native) and hardware class (u8, the market's number: 1 cpu, "
          "2 gpu-sm80, 3 gpu-sm90, 4 gpu-sm100) right after the model's five u32s; the rest is "
          "version 1's layout. Exact-tier states keep version 1, above. Inputs: the state above, "
          "in the native tier on gpu-sm90.")
    doc.hexval("The fixed part, magic to round_step", header, "kNativeCheckpointHeader")
    doc.hexval("Whole file", file)
    doc.hexval("Trailer", file[-32:], "kNativeCheckpointTrailer")
    doc.hexval("Checkpoint hash", blake2b(file), "kNativeCheckpointHash")


def section_merkle(doc):
    items = [blake2b(bytes([i])) for i in range(7)]
    doc.p("## 7. Merkle root and proofs", "",
          "One tree for transaction roots, checkpoint commitments and the state tree "
          "(common/merkle.h, docs/merkle.md):", "",
          code("leaf  = BLAKE2b-256(0x00 | item)        (item: 32 bytes)\n"
               "node  = BLAKE2b-256(0x01 | left | right)\n"
               "empty = 32 zero bytes\n"
               "split: the left subtree takes the largest power of two < n (RFC 9162 2.1.1)"),
          "",
          "A proof is RFC 9162's audit path: sibling hashes from the leaf's level up, carried "
          "on the wire concatenated (`EncodeSiblings`). It is checked with the index and the "
          "tree size, which the proof does not encode.", "",
          "Items: item[i] = BLAKE2b-256 of the single byte i, for i = 0..6.")
    doc.hexval("item[0]", items[0])
    doc.hexval("leaf(item[0])", merkle_leaf(items[0]), "kMerkleLeaf0")
    doc.hexval("node(leaf(item[0]), leaf(item[1]))",
               merkle_node(merkle_leaf(items[0]), merkle_leaf(items[1])), "kMerkleNode01")
    rows = ["| n | root over item[0..n-1] |", "|---|---|"]
    for n in range(8):
        root = merkle_root(items[:n])
        rows.append(f"| {n} | `{root.hex()}` |")
        doc.consts.append((f"kMerkleRoot{n}", root.hex()))
    doc.p(*rows)
    for n, index in [(7, 3), (7, 6), (5, 4), (1, 0)]:
        sib = merkle_path(items[:n], index)
        root = merkle_root(items[:n])
        assert merkle_verify(root, items[index], index, n, sib)
        doc.p(f"### Proof of item[{index}] in a tree of {n}", "",
              f"{len(sib)} sibling{'' if len(sib) == 1 else 's'}" +
              (" (a one-leaf tree: the leaf is the root)" if not sib
               else ", leaf level first."))
        if sib:
            doc.hexval("Siblings, concatenated", b"".join(sib), f"kMerkleProof{n}At{index}")
        else:
            doc.consts.append((f"kMerkleProof{n}At{index}", ""))


def build():
    self_check()
    doc = Doc()
    doc.p("# Known-answer vectors",
          "",
          "Generated by `python3 scripts/vectors.py > docs/vectors.md`; do not edit by hand.",
          "",
          "The values below come from an implementation independent of the node's: "
          "`scripts/vectors.py` does ed25519 from RFC 8032 with Python integers, bech32m from "
          "BIP 350, the Merkle split from RFC 9162 and protobuf encoding by hand, with only "
          "`hashlib` (BLAKE2b, SHA-512) from the library. "
          "`tests/consensus/known_answer_test.cc` builds the same inputs through the C++ API "
          "and must produce the same bytes. A change to a domain tag, a field number or order, "
          "a hash, the Merkle split or an integer's width or byte order breaks that test; if "
          "the change is intended, it is a change of the protocol: regenerate this file, "
          "update the test's constants, and tell every other implementation.",
          "",
          "Hex is lower case. \"u32\", \"u64\" are unsigned integers of 4 and 8 bytes; the "
          "byte order is stated with each format.")
    section_keys(doc)
    txs = transactions()
    section_transactions(doc, txs)
    section_possession(doc)
    section_tx_root(doc, txs)
    section_header(doc)
    section_votes(doc)
    section_addresses(doc)
    section_checkpoint(doc)
    section_merkle(doc)
    return doc


def cpp_constants(consts):
    """C++ constexpr definitions, long hex split into 80-character literals."""
    lines = []
    for name, value in consts:
        chunks = [value[i:i + 80] for i in range(0, len(value), 80)] or [""]
        one_line = f'constexpr char {name}[] = "{value}";'
        if len(one_line) <= 100:
            lines.append(one_line)
        else:
            lines.append(f"constexpr char {name}[] =")
            for i, c in enumerate(chunks):
                lines.append(f'    "{c}"' + (";" if i == len(chunks) - 1 else ""))
    return "\n".join(lines)


def main():
    doc = build()
    if sys.argv[1:] == ["--cpp"]:
        print(cpp_constants(doc.consts))
    elif sys.argv[1:]:
        sys.exit("usage: vectors.py [--cpp]")
    else:
        print("\n".join(doc.out).rstrip() + "\n", end="")


if __name__ == "__main__":
    main()
