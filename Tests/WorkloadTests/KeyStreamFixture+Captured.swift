// The captured key-stream digests (KeyStreamFixtureTests), taken from the generators before the
// per-operation cost work of issue 18 changed key formatting. Regenerate only on purpose, from a
// tree whose streams are known good: KVLAB_CAPTURE_KEY_STREAMS=1 swift test --filter KeyStreamFixture

let capturedKeyStreams: [String: (digest: UInt64, firstKey: String)] = [
    "workloada  seed=1": (0xb1b61e59ac919cb7, "user1236834726000471613"),
    "workloada  seed=301": (0xf77732cd8240c828, "user7586477543532073547"),
    "workloada  seed=3735928559": (0xdcd4b63422e15607, "user1468598091777448185"),
    "workloadd  seed=1": (0x8ed3103223dc433, "user4152828024211893584"),
    "workloadd  seed=301": (0x879695771dec195e, "user8964543926300396812"),
    "workloadd  seed=3735928559": (0xe026c6336577ff0a, "user5001830905879751599"),
    "workloade  seed=1": (0xa895011ec798a95c, "user4525023903997977743"),
    "workloade  seed=301": (0x51b5039b5fb2b78a, "user2413058046720302418"),
    "workloade  seed=3735928559": (0x71a279e571d9aaa3, "user4876795174170569834"),
    "workloadf  seed=1": (0x27f4ebde339a6abd, "user1236834726000471613"),
    "workloadf  seed=301": (0xcf289a253ce64480, "user7586477543532073547"),
    "workloadf  seed=3735928559": (0x208f822347be56e9, "user1468598091777448185"),
    "workloada requestdistribution=uniform seed=1": (0xca7929bdfd4361a0, "user1819809401437899828"),
    "workloada requestdistribution=uniform seed=301": (0x2ad69d96506d3041, "user1684623029960200370"),
    "workloada requestdistribution=uniform seed=3735928559": (0xf9e842c1d008d9cf, "user3565167166755197688"),
    "workloada requestdistribution=hotspot seed=1": (0x13f6acff3ac24003, "user6164213995759621244"),
    "workloada requestdistribution=hotspot seed=301": (0x57f38ce10f8ac448, "user5470043819452972424"),
    "workloada requestdistribution=hotspot seed=3735928559": (0x3feddc9740786e0f, "user8873773035044668275"),
    "workloada requestdistribution=exponential seed=1": (0x716dc1f4c1644e6, "user306556647191877105"),
    "workloada requestdistribution=exponential seed=301": (0x3089c17b5ca59025, "user2166676174373382355"),
    "workloada requestdistribution=sequential seed=1": (0xa539d9552793fd29, "user6284781860667377211"),
    "workloada requestdistribution=exponential seed=3735928559": (0x17ab118af000d18b, "user658887877876609644"),
    "workloada requestdistribution=sequential seed=3735928559": (0x804daaba33cccedb, "user6284781860667377211"),
    "workloada requestdistribution=sequential seed=301": (0xdcd1e9c0171d47a4, "user6284781860667377211"),
    "workloada insertorder=ordered zeropadding=12 seed=1": (0x7f4f317190a118c9, "user000000000263"),
    "workloada insertorder=ordered zeropadding=12 seed=301": (0x9c10f4f3a5866ab7, "user000000000447"),
    "workloada insertorder=ordered zeropadding=12 seed=3735928559": (0x71700caaf6880d42, "user000000000845"),
]
