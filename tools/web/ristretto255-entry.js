// The parts of @noble/curves and @noble/hashes that the browser verifier needs for
// private-mode proofs (ristretto255, RFC 9496; SHA-512; a Pippenger multi-scalar
// multiplication), bundled by tools/web/build_ristretto255.sh into one script that
// verify.html carries inline (its Content-Security-Policy loads nothing).
import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
import { pippenger } from "@noble/curves/abstract/curve.js";
import { sha512 } from "@noble/hashes/sha2.js";

globalThis.RingfenceRistretto = Object.freeze({
  Point: ristretto255.Point,
  fromUniformBytes: (bytes) => ristretto255_hasher.deriveToCurve(bytes),
  multiScalarMultiply: (points, scalars) => pippenger(ristretto255.Point, points, scalars),
  sha512: (bytes) => sha512(bytes),
});
