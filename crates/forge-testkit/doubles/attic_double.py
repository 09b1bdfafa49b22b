#!/usr/bin/env python3
"""Attic API test double (named so: it is NOT Attic).

Follows shared/reference/nix-and-attic.md section 1 for the routes Forge uses:
  GET   /_api/v1/cache-config/{cache}   (permission r)
  POST  /_api/v1/cache-config/{cache}   (cc)     PATCH same (cr)
  POST  /_api/v1/get-missing-paths      (w)
  PUT   /_api/v1/upload-path            (w)  X-Attic-Nar-Info header or preamble
and the binary-cache read side (/{cache}/nix-cache-info, .narinfo, nar/) so
real Nix can substitute what was pushed. It checks what a real server would
reject: auth (HS256 JWT with claims under https://jwt.attic.rs/v1), hash and
reference formats, NAR hash and size. Every request is appended to --log as
one JSON line so tests can assert on the traffic.

Faults on demand: --fail-first N answers 500 to the first N upload-path
requests; --throttle-first N answers 429 with Retry-After: 1 to the next N;
--drop-first N cuts the connection of the first N uploads of more than
--fault-after bytes once that many body bytes arrived (a server restarted
mid-NAR); --stall-first N stops reading the first N such uploads at that point
and holds the connection open without a word (a server that stopped reading).

Usage: attic_double.py serve --port P --jwt-secret-base64 S --cache NAME [...]
       attic_double.py mint --jwt-secret-base64 S --sub ci --perm main:rw [--exp-seconds N]
"""
import argparse, base64, hashlib, hmac, json, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
HASH_RE = re.compile(r"^[0-9a-df-np-sv-z]{32}$")
BASE_NAME_RE = re.compile(r"^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$")
CLAIMS_KEY = "https://jwt.attic.rs/v1"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(secret, sub, perms, exp_seconds):
    header = {"alg": "HS256", "typ": "JWT"}
    now = int(time.time())
    claims = {"sub": sub, "exp": now + exp_seconds, "nbf": now - 5, CLAIMS_KEY: {"caches": perms}}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def verify(secret, token):
    try:
        h, c, s = token.split(".")
        expected = hmac.new(secret, (h + "." + c).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64url_decode(s)):
            return None
        if json.loads(b64url_decode(h)).get("alg") != "HS256":
            return None
        claims = json.loads(b64url_decode(c))
        if claims.get("exp", 0) < time.time() or claims.get("nbf", 0) > time.time() + 5:
            return None
        return claims
    except Exception:
        return None


def nix32_decode(text):
    out = bytearray(32)
    for pos, ch in enumerate(reversed(text)):
        d = NIX32.index(ch)
        b = pos * 5
        i, j = b // 8, b % 8
        out[i] |= (d << j) & 0xFF
        if i + 1 < 32:
            out[i + 1] |= d >> (8 - j)
    return bytes(out)


def nix32_encode(data):
    n = (len(data) * 8 - 1) // 5 + 1
    s = ""
    for k in range(n - 1, -1, -1):
        b = k * 5
        i, j = b // 8, b % 8
        c = data[i] >> j
        if i + 1 < len(data):
            c |= data[i + 1] << (8 - j)
        s += NIX32[c & 31]
    return s


def parse_nar_hash(text):
    """Attic accepts sha256:<64 hex> or sha256:<52 nix32>; SRI is refused."""
    if not text.startswith("sha256:"):
        return None
    body = text[7:]
    if re.fullmatch(r"[0-9a-f]{64}", body):
        return bytes.fromhex(body)
    if len(body) == 52 and all(ch in NIX32 for ch in body):
        return nix32_decode(body)
    return None


class State:
    def __init__(self, args):
        self.secret = base64.b64decode(args.jwt_secret_base64)
        self.caches = {name: {"is_public": False, "priority": 41, "store_dir": "/nix/store",
                              "upstream_cache_key_names": args.upstream_key or ["cache.nixos.org-1"], "public_key": name + ":double",
                              "retention_period": "Global"} for name in args.cache}
        self.objects = {}  # (cache, hash) -> narinfo dict
        self.nars = {}  # nar sha256 bytes -> nar bytes
        self.fail_left = args.fail_first
        self.throttle_left = args.throttle_first
        self.drop_left = args.drop_first
        self.stall_left = args.stall_first
        self.fault_after = args.fault_after
        self.lock = threading.Lock()
        self.log = open(args.log, "a") if args.log else None

    def record(self, entry):
        if self.log:
            with self.lock:
                self.log.write(json.dumps(entry) + "\n")
                self.log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *a):
        pass

    # --- plumbing -------------------------------------------------------
    def reply(self, code, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, name, message):
        self.reply(code, {"code": code, "error": name, "message": message})

    def body_reader(self):
        """Yields the request body in pieces, chunked or Content-Length."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(left, 1 << 20))
                    if not piece:
                        raise IOError("client closed mid-chunk")
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                piece = self.rfile.read(min(left, 1 << 20))
                if not piece:
                    raise IOError("client closed mid-body")
                left -= len(piece)
                yield piece

    def read_body(self):
        return b"".join(self.body_reader())

    def claims(self):
        auth = self.headers.get("Authorization", "")
        token = None
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            token = base64.b64decode(auth[6:]).decode().split(":", 1)[-1]
        return verify(self.state.secret, token) if token else None

    @staticmethod
    def perms_for(claims, cache):
        """The permissions a token has on cache: an exact name wins over patterns."""
        caches = claims.get(CLAIMS_KEY, {}).get("caches", {})
        perms = caches.get(cache)
        if perms is None:
            for pattern, p in caches.items():
                if re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), cache):
                    perms = p
                    break
        return perms or {}

    def allowed(self, cache, perm):
        claims = self.claims()
        if claims is None:
            self.error(401, "Unauthorized", "missing, invalid or expired token")
            return False
        perms = self.perms_for(claims, cache)
        if not perms or not perms.get(perm):
            self.error(403, "AccessError", f"token lacks permission {perm} on {cache}")
            return False
        return True

    # --- routes -----------------------------------------------------------
    def do_GET(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def route(self):
        st = self.state
        path = self.path.split("?")[0]
        st.record({"method": self.command, "path": path,
                   "nar_info_header": "X-Attic-Nar-Info" in self.headers,
                   "preamble": "X-Attic-Nar-Info-Preamble-Size" in self.headers,
                   "chunked": self.headers.get("Transfer-Encoding", "").lower() == "chunked"})
        m = re.fullmatch(r"/_api/v1/cache-config/([^/]+)", path)
        if m:
            return self.cache_config(m.group(1))
        if path == "/_api/v1/get-missing-paths" and self.command == "POST":
            return self.missing_paths()
        if path == "/_api/v1/upload-path" and self.command == "PUT":
            return self.upload_path()
        m = re.fullmatch(r"/([^/_][^/]*)/(nix-cache-info|[0-9a-z]{32}\.narinfo|nar/[0-9a-z]{32}\.nar)", path)
        if m and self.command in ("GET", "HEAD"):
            return self.read_side(m.group(1), m.group(2))
        self.read_body()
        self.error(404, "NotFound", f"no route for {self.command} {path}")

    def cache_config(self, cache):
        st = self.state
        if self.command == "GET":
            if not self.allowed(cache, "r"):
                return
            if cache not in st.caches:
                return self.error(404, "NoSuchCache", f"cache {cache} does not exist")
            return self.reply(200, st.caches[cache])
        body = json.loads(self.read_body() or b"{}")
        if self.command == "POST":
            if not self.allowed(cache, "cc"):
                return
            if cache in st.caches:
                return self.error(400, "CacheAlreadyExists", f"cache {cache} already exists")
            st.caches[cache] = {"is_public": body["is_public"], "priority": body["priority"],
                                "store_dir": body["store_dir"], "upstream_cache_key_names": body["upstream_cache_key_names"],
                                "public_key": cache + ":double", "retention_period": "Global"}
            return self.reply(200, {})
        if self.command == "PATCH":
            if not self.allowed(cache, "cr"):
                return
            if cache not in st.caches:
                return self.error(404, "NoSuchCache", f"cache {cache} does not exist")
            if "retention_period" in body and not self.perms_for(self.claims(), cache).get("cq"):
                return self.error(403, "AccessError", "retention needs permission cq")
            for k, v in body.items():
                if k == "keypair":
                    st.caches[cache]["public_key"] = cache + ":regenerated"
                else:
                    st.caches[cache][k] = v
            return self.reply(200, {})
        self.error(405, "MethodNotAllowed", self.command)

    def missing_paths(self):
        st = self.state
        req = json.loads(self.read_body())
        cache = req.get("cache")
        if not self.allowed(cache, "w"):
            return
        if cache not in st.caches:
            return self.error(404, "NoSuchCache", f"cache {cache} does not exist")
        hashes = req.get("store_path_hashes")
        if not isinstance(hashes, list) or not all(isinstance(h, str) and HASH_RE.match(h) for h in hashes):
            return self.error(400, "RequestError", "store_path_hashes must be 32-char nix32 hashes")
        st.record({"missing_batch": len(hashes)})
        self.reply(200, {"missing_paths": [h for h in hashes if (cache, h) not in st.objects]})

    def upload_path(self):
        st = self.state
        with st.lock:
            fail = st.fail_left > 0
            st.fail_left -= fail
            throttle = not fail and st.throttle_left > 0
            st.throttle_left -= throttle
        body = self.body_reader()
        buffered = b""
        if "X-Attic-Nar-Info" in self.headers:
            info_text = self.headers["X-Attic-Nar-Info"]
        elif "X-Attic-Nar-Info-Preamble-Size" in self.headers:
            size = int(self.headers["X-Attic-Nar-Info-Preamble-Size"])
            for piece in body:
                buffered += piece
                if len(buffered) >= size:
                    break
            info_text, buffered = buffered[:size].decode(), buffered[size:]
        else:
            self.read_body()
            return self.error(400, "RequestError", "no X-Attic-Nar-Info header or preamble")
        info = json.loads(info_text)
        if fail or throttle:
            for _ in body:
                pass
            if fail:
                return self.error(500, "InternalServerError", "injected failure")
            return self.reply(429, {"code": 429, "error": "TooManyRequests", "message": "slow down"},
                              headers={"Retry-After": "1"})
        cache = info.get("cache")
        if not self.allowed(cache, "w"):
            return
        problems = []
        nar_hash = parse_nar_hash(info.get("nar_hash", ""))
        if nar_hash is None:
            problems.append("nar_hash must be sha256:<hex> or sha256:<nix32>")
        refs = info.get("references")
        if not isinstance(refs, list) or not all(BASE_NAME_RE.match(r) for r in refs):
            problems.append("references must be store path base names")
        elif refs != sorted(refs):
            problems.append("references must be sorted")
        sp, sph = info.get("store_path", ""), info.get("store_path_hash", "")
        if not HASH_RE.match(sph) or sp != f"/nix/store/{sph}-{sp.split('-', 1)[-1]}" or not sp.startswith("/nix/store/" + sph + "-"):
            problems.append("store_path and store_path_hash disagree")
        if not isinstance(info.get("nar_size"), int) or info["nar_size"] <= 0:
            problems.append("nar_size must be a positive integer")
        if problems:
            for _ in body:
                pass
            return self.error(400, "RequestError", "; ".join(problems))
        h = hashlib.sha256(buffered)
        data = [buffered]
        received = len(buffered)
        fault = None
        for piece in body:
            h.update(piece)
            data.append(piece)
            received += len(piece)
            if fault is None and received > st.fault_after:
                with st.lock:
                    if st.drop_left > 0:
                        st.drop_left -= 1
                        fault = "drop"
                    elif st.stall_left > 0:
                        st.stall_left -= 1
                        fault = "stall"
                    else:
                        fault = "none"
                if fault == "drop":
                    st.record({"fault": "dropped", "store_path": sp, "after": received})
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "stall":
                    st.record({"fault": "stalled", "store_path": sp, "after": received})
                    time.sleep(3600)
                    return
        nar = b"".join(data)
        if h.digest() != nar_hash or len(nar) != info["nar_size"]:
            return self.error(400, "RequestError", "Bad NAR Hash or Size")
        with st.lock:
            dedup = nar_hash in st.nars
            st.nars[nar_hash] = nar
            st.objects[(cache, sph)] = info
        self.reply(200, {"kind": "Deduplicated" if dedup else "Uploaded", "file_size": len(nar)})

    def read_side(self, cache, name):
        st = self.state
        if cache not in st.caches:
            return self.error(404, "NoSuchCache", cache)
        if not st.caches[cache]["is_public"] and not self.allowed(cache, "r"):
            return
        if name == "nix-cache-info":
            return self.reply(200, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n", "text/x-nix-cache-info")
        h = name.split("/")[-1][:32]
        info = st.objects.get((cache, h))
        if info is None:
            return self.error(404, "NoSuchObject", name)
        if name.endswith(".narinfo"):
            lines = [f"StorePath: {info['store_path']}", f"URL: nar/{h}.nar", "Compression: none",
                     f"NarHash: sha256:{nix32_encode(parse_nar_hash(info['nar_hash']))}",
                     f"NarSize: {info['nar_size']}", "References: " + " ".join(info["references"])]
            if info.get("deriver"):
                lines.append(f"Deriver: {info['deriver']}")
            lines += [f"Sig: {s}" for s in info.get("sigs", [])]
            if info.get("ca"):
                lines.append(f"CA: {info['ca']}")
            return self.reply(200, "\n".join(lines) + "\n", "text/x-nix-narinfo")
        return self.reply(200, st.nars[parse_nar_hash(info["nar_hash"])], "application/x-nix-nar")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--jwt-secret-base64", required=True)
    s.add_argument("--cache", action="append", default=[])
    s.add_argument("--fail-first", type=int, default=0)
    s.add_argument("--throttle-first", type=int, default=0)
    s.add_argument("--upstream-key", action="append", default=[], help="the caches' upstream_cache_key_names")
    s.add_argument("--drop-first", type=int, default=0)
    s.add_argument("--stall-first", type=int, default=0)
    s.add_argument("--fault-after", type=int, default=1 << 20)
    s.add_argument("--log")
    m = sub.add_parser("mint")
    m.add_argument("--jwt-secret-base64", required=True)
    m.add_argument("--sub", default="test")
    m.add_argument("--perm", action="append", default=[], help="cache:letters, e.g. main:rw or main:r,w,cc")
    m.add_argument("--exp-seconds", type=int, default=3600)
    args = ap.parse_args()
    if args.cmd == "mint":
        perms = {}
        for p in args.perm:
            cache, letters = p.split(":", 1)
            names = letters.split(",") if "," in letters else list(letters)
            perms[cache] = {n: 1 for n in names}
        print(mint(base64.b64decode(args.jwt_secret_base64), args.sub, perms, args.exp_seconds))
        return
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
