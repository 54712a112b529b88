//! Criterion benchmarks of the AJP13 codec: encoding a typical browser GET as FORWARD_REQUEST, decoding a typical Tomcat SEND_HEADERS; plus a count of the heap allocations each makes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group};
use jkd::ajp::{
    ContainerMessage, DEFAULT_PACKET_SIZE, ForwardRequest, LbActivation, RequestAttributes,
    decode_container_message, encode_forward_request, encode_send_headers,
};

/// A browser GET as mod_jk forwards it: ten headers (six of them coded), the
/// `content-length: 0` mod_jk adds, a query string and the always-sent attributes.
fn browser_get() -> ForwardRequest<'static> {
    ForwardRequest {
        method: b"GET",
        protocol: b"HTTP/1.1",
        req_uri: b"/shop/catalog/item.jsp",
        remote_addr: b"203.0.113.45",
        remote_host: None,
        server_name: b"www.example.com",
        server_port: 443,
        is_ssl: true,
        headers: vec![
            (b"Host", b"www.example.com"),
            (
                b"User-Agent",
                b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ),
            (
                b"Accept",
                b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
            (b"Accept-Language", b"en-US,en;q=0.5"),
            (b"Accept-Encoding", b"gzip, deflate, br, zstd"),
            (b"Referer", b"https://www.example.com/shop/catalog/"),
            (b"Connection", b"keep-alive"),
            (
                b"Cookie",
                b"JSESSIONID=0123456789ABCDEF0123456789ABCDEF.node1; theme=dark",
            ),
            (b"Upgrade-Insecure-Requests", b"1"),
            (b"content-length", b"0"),
        ],
        attributes: RequestAttributes {
            query_string: Some(b"id=4711&color=blue"),
            route: Some(b"node1"),
            ssl_cipher: Some(b"TLS_AES_256_GCM_SHA384"),
            ssl_key_size: Some(256),
            ssl_protocol: Some(b"TLSv1.3"),
            remote_port: b"52344",
            local_addr: b"192.0.2.10",
            lb_activation: LbActivation::Active,
            ..RequestAttributes::default()
        },
    }
}

/// A Tomcat response to that GET: status 200 with Tomcat's numeric reason and
/// five headers (three coded).
fn tomcat_send_headers() -> Vec<u8> {
    let headers: [(&[u8], &[u8]); 5] = [
        (b"Content-Type", b"text/html;charset=UTF-8"),
        (b"Content-Length", b"5120"),
        (
            b"Set-Cookie",
            b"JSESSIONID=0123456789ABCDEF0123456789ABCDEF.node1; Path=/shop; HttpOnly",
        ),
        (b"Cache-Control", b"no-cache, no-store"),
        (b"Date", b"Sat, 22 Nov 2025 01:00:00 GMT"),
    ];
    let mut out = BytesMut::new();
    encode_send_headers(200, Some(b"200"), &headers, DEFAULT_PACKET_SIZE, &mut out)
        .expect("the benchmark response fits a default packet");
    out.to_vec()
}

fn codec(c: &mut Criterion) {
    let request = browser_get();
    let mut out = BytesMut::with_capacity(DEFAULT_PACKET_SIZE);
    c.bench_function("encode_forward_request/browser_get_10_headers", |b| {
        b.iter(|| {
            out.clear();
            encode_forward_request(black_box(&request), DEFAULT_PACKET_SIZE, &mut out)
                .expect("the benchmark request fits a default packet");
            black_box(out.len())
        })
    });

    let packet = tomcat_send_headers();
    c.bench_function("decode_container_message/send_headers_5_headers", |b| {
        b.iter(|| {
            let decoded = decode_container_message(black_box(&packet), DEFAULT_PACKET_SIZE);
            match decoded {
                Ok(Some((ContainerMessage::SendHeaders(headers), consumed))) => {
                    black_box((headers.status, consumed))
                }
                other => panic!("unexpected {other:?}"),
            }
        })
    });

    c.bench_function(
        "decode_container_message/send_headers_5_headers_and_iterate",
        |b| {
            b.iter(|| {
                let Ok(Some((ContainerMessage::SendHeaders(headers), _))) =
                    decode_container_message(black_box(&packet), DEFAULT_PACKET_SIZE)
                else {
                    panic!("not SEND_HEADERS");
                };
                headers
                    .headers()
                    .map(|(name, value)| name.len() + value.len())
                    .sum::<usize>()
            })
        },
    );
}

/// The system allocator, counting allocations made on the current thread.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialised thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during<T>(work: impl FnOnce() -> T) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    black_box(work());
    ALLOCATIONS.with(Cell::get) - before
}

/// Prints how many heap allocations one encode and one decode make.
fn report_allocations() {
    let request = browser_get();
    let mut warm = BytesMut::with_capacity(DEFAULT_PACKET_SIZE);
    let mut cold = BytesMut::new();
    let encode_warm =
        allocations_during(|| encode_forward_request(&request, DEFAULT_PACKET_SIZE, &mut warm));
    let encode_cold =
        allocations_during(|| encode_forward_request(&request, DEFAULT_PACKET_SIZE, &mut cold));
    let packet = tomcat_send_headers();
    let decode = allocations_during(|| {
        let Ok(Some((ContainerMessage::SendHeaders(headers), _))) =
            decode_container_message(&packet, DEFAULT_PACKET_SIZE)
        else {
            panic!("not SEND_HEADERS");
        };
        headers.headers().count()
    });
    println!(
        "allocations: encode_forward_request {encode_warm} into a buffer with room, \
         {encode_cold} into an empty one; decode_container_message + header walk {decode}"
    );
}

criterion_group!(benches, codec);

fn main() {
    report_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
