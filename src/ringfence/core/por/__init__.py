"""Proof of reserves and liabilities: one Merkle sum tree per asset over client balances at a
snapshot, a signed round record, and the attested reserves that back it.

The modules, in the order a round is built:

- ``liabilities``: what each client is owed, and the same in proof units (rounded up);
- ``hashes``: domain tags, formats, and the hashes of leaves, nodes and padding (one at a
  time, as ``verifier.py`` writes them again, and in bulk);
- ``placement``: the round's random stream; balances split into pieces at random slots;
- ``tree``: levels, subtrees (built as tasks on the shell's executor) and the joined tree;
- ``inclusion``: a client's inclusion proof;
- ``round``: the round record, its signature and its chain to the round before;
- ``attestation``: the reserves side (holdings of client-designated wallets, proven).

Pure: the caller passes the balances, the master secret, the signing key and the randomness
(a seed, expanded here with SHAKE-256 into a deterministic stream); nothing here reads a
clock, a file or the operating system's random source, or starts a process. The shell may
build subtrees in parallel by passing its own ``map_jobs`` (an executor's ``map``): the jobs
and their results are plain picklable values.

Design (shared/research/proof-of-reserves.md §4, attacks §3; format in docs/proof-of-reserves.md):

- One tree per asset, never netted across assets (attack 6).
- Balances are converted to the asset's proof unit (10^-9 of the major unit at the finest, so
  gwei for ETH and sats for BTC) rounding up, so nothing owed is understated; every leaf and
  every node sum must stay below 2^64 (attack 3).
- Each balance is split into 2 to 4 random positive pieces at random distinct slots of one
  random neighbourhood (an aligned block of 2^10 slots) of a sparse tree of height
  ceil(log2(pieces)) + 3; empty subtrees are padding nodes of sum zero whose hashes come from
  a key only the firm holds. Keeping a client's pieces in one neighbourhood lets their paths
  share the top of the tree, which keeps a proof under 4 KB.
- A leaf hashes a domain tag, the round, the asset, its index, its value and a salt derived
  with HMAC from the client's own key, itself derived from the master secret: only the client
  can recognise their leaves, and equal balances never share a leaf (attack 4); salts change
  every round (attack 11).
- A parent hashes a domain tag, its height, and both children's sums and hashes in fixed-width
  big-endian (attacks 1 and 2).
- A round record holds per-asset roots and totals, the reserves (or that they are not yet
  attested) and the previous round's hash, and is signed with Ed25519 (attack 10).

Speed: the build never makes a Python object per node. Each level is a sorted array of
indices, an array of sums and a matrix of hashes; the preimages of a whole level are laid out
by numpy in one matrix and hashed by a pipeline of C iterators (``struct.iter_unpack`` into
``hashlib.sha256``), HMAC included (written out over SHA-256 so that it runs in bulk; the
tests check it against ``hmac``).

The hashing functions are written again, independently, in ``verifier.py``, which a client
can read; the tests check that the two agree.
"""

