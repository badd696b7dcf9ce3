//! The memory limit counts every memory of a component, not each one alone.
//!
//! A component built by hand (WAT) with two core modules, each with its own
//! linear memory, runs under Rosey's engine and `MemoryLimiter`. Each memory
//! alone stays under the limit; together they exceed it, and the second
//! growth must trap. A per-memory limit would let both through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rosey_host::runtime::RoseyEngine;
use rosey_host::runtime::limits::MemoryLimiter;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

const TWO_MEMORIES: &str = r#"
(component
  (core module $a
    (memory (export "mem") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  (core module $b
    (memory (export "mem") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  (core instance $ia (instantiate $a))
  (core instance $ib (instantiate $b))
  (func (export "grow-a") (param "pages" u32) (result s32) (canon lift (core func $ia "grow")))
  (func (export "grow-b") (param "pages" u32) (result s32) (canon lift (core func $ib "grow")))
)
"#;

const PAGE: u64 = 64 * 1024;

#[tokio::test]
async fn the_limit_is_the_sum_of_all_memories() {
    let engine = RoseyEngine::new().unwrap();
    let component = Component::new(engine.engine(), wat::parse_str(TWO_MEMORIES).unwrap()).unwrap();
    // 64 pages (4 MiB) in total; each memory starts at one page.
    let mut store = Store::new(engine.engine(), MemoryLimiter::new(64 * PAGE));
    store.limiter(|limiter| limiter);
    store.set_fuel(10_000_000).unwrap();
    store.set_epoch_deadline(1_000);
    let instance = Linker::new(engine.engine())
        .instantiate_async(&mut store, &component)
        .await
        .unwrap();
    let grow_a = instance
        .get_typed_func::<(u32,), (i32,)>(&mut store, "grow-a")
        .unwrap();
    let grow_b = instance
        .get_typed_func::<(u32,), (i32,)>(&mut store, "grow-b")
        .unwrap();

    // 41 pages in memory a: under the limit.
    let (old,) = grow_a.call_async(&mut store, (40,)).await.unwrap();
    assert_eq!(old, 1);
    assert_eq!(store.data().used(), 42 * PAGE);

    // 41 pages in memory b would also be under the limit on its own; the
    // sum (82 pages) is not.
    let err = grow_b.call_async(&mut store, (40,)).await.unwrap_err();
    assert!(
        format!("{err:?}").contains("memory limit reached"),
        "the second memory's growth must trap: {err:?}"
    );
    assert_eq!(store.data().refusals(), 1);
    assert_eq!(
        store.data().used(),
        42 * PAGE,
        "the refused growth is not counted"
    );
}
