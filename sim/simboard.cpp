// The simulated board: the board top (UART pins and all), compiled by Verilator, behind a TCP
// socket on 127.0.0.1. Every byte the host sends is shifted into the top's `rx` pin bit by bit
// (8N1, DIVISOR clock cycles per bit); every frame the top shifts out of its `tx` pin is sampled
// mid-bit and sent back. The host sees exactly the bytes a board's UART would carry.
//
// Built with -DSIMBOARD_BYTES the top is spikeforge.rtl.top.ByteTop instead: the same engine
// behind byte streams (rx__payload/valid/ready, tx__...), one byte per clock at most — the fast
// path of the simulated board; the bytes are the same, only the bit timing is skipped.
//
// Built with -DSIMBOARD_RESET the top has a `rst` input, held for 8 cycles at start; without it
// the top has no reset input and starts in its power-on state (the state a reset gives).
//
// Usage: simboard --divisor D [--port P]
//   Listens on 127.0.0.1:P (P=0: any free port), prints "listening <port>" on stdout, serves one
//   connection and exits when it closes (or when the parent process dies), printing the number
//   of clock cycles it simulated on stderr ("simboard: <cycles> cycles").
//   On SIGUSR1 it prints "simboard: mark <cycles> <first> <last>" on stderr: the cycles so far,
//   the cycle at which the first byte from the host since the previous mark entered the top
//   (-1: none) and the cycle at which the last byte left it (-1: none yet). The host times a run
//   in simulated cycles with two marks.

#include "Vtop.h"
#include "verilated.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#ifdef SIMBOARD_BYTES
// Verilator escapes the double underscore of Amaranth's port names ("rx__valid").
#define RX_VALID rx___05Fvalid
#define RX_READY rx___05Fready
#define RX_PAYLOAD rx___05Fpayload
#define TX_VALID tx___05Fvalid
#define TX_READY tx___05Fready
#define TX_PAYLOAD tx___05Fpayload
#endif

namespace {

volatile std::sig_atomic_t mark_requested = 0;

void request_mark(int) { mark_requested = 1; }

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "simboard: %s: %s\n", what, std::strerror(errno));
    std::exit(2);
}

// Drives the top's rx pin with queued bytes: start bit, 8 data bits LSB first, stop bit.
struct UartDriver {
    int divisor;
    std::deque<uint8_t> queue;
    int bit = -1;        // -1 idle, 0 start, 1..8 data, 9 stop
    int count = 0;
    uint8_t byte = 0;

    int level() {
        if (bit < 0) {
            if (queue.empty()) return 1;
            byte = queue.front();
            queue.pop_front();
            bit = 0;
            count = 0;
        }
        int value = bit == 0 ? 0 : bit == 9 ? 1 : (byte >> (bit - 1)) & 1;
        if (++count == divisor) {
            count = 0;
            if (++bit == 10) bit = -1;
        }
        return value;
    }
    bool idle() const { return bit < 0 && queue.empty(); }
};

// Samples the top's tx pin in the middle of every bit.
struct UartSampler {
    int divisor;
    int state = 0;       // 0 idle, 1 start, 2 data, 3 stop
    int count = 0;
    int bit = 0;
    uint8_t byte = 0;

    // Returns a received byte, or -1.
    int sample(int level) {
        switch (state) {
        case 0:
            if (level == 0) { state = 1; count = 0; }
            return -1;
        case 1:
            if (++count == divisor / 2) {
                if (level != 0) { state = 0; return -1; }   // a glitch, not a start bit
                state = 2; count = 0; bit = 0; byte = 0;
            }
            return -1;
        case 2:
            if (++count == divisor) {
                count = 0;
                byte |= (level & 1) << bit;
                if (++bit == 8) state = 3;
            }
            return -1;
        default:
            if (++count == divisor) {
                state = 0;
                return byte;     // a framing error (stop bit 0) still yields the byte
            }
            return -1;
        }
    }
    bool idle() const { return state == 0; }
};

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    int divisor = 0;
    for (int k = 1; k < argc; k++) {
        std::string arg = argv[k];
        if (arg == "--port" && k + 1 < argc) port = std::atoi(argv[++k]);
        else if (arg == "--divisor" && k + 1 < argc) divisor = std::atoi(argv[++k]);
    }
#ifdef SIMBOARD_BYTES
    if (divisor == 0) divisor = 4;       // unused by the byte streams
#endif
    if (divisor < 4) {
        std::fprintf(stderr, "simboard: --divisor D (clock cycles per UART bit, >= 4) is "
                             "required\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);    // never outlive the host process
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGUSR1, request_mark);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) fail("bind");
    if (listen(listener, 1) < 0) fail("listen");
    socklen_t length = sizeof address;
    getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    std::printf("listening %d\n", ntohs(address.sin_port));
    std::fflush(stdout);

    int client = accept(listener, nullptr, nullptr);
    if (client < 0) fail("accept");
    close(listener);
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    Verilated::commandArgs(argc, argv);
    Vtop* top = new Vtop;
#ifdef SIMBOARD_BYTES
    top->RX_VALID = 0;
    top->TX_READY = 1;
#else
    top->rx = 1;
#endif
#ifdef SIMBOARD_RESET
    top->rst = 1;
    for (int k = 0; k < 8; k++) {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    top->rst = 0;
#endif

    UartDriver driver{divisor};
    UartSampler sampler{divisor};
    std::vector<uint8_t> out;
    uint8_t buffer[65536];
    const int batch = 256;               // cycles between looks at the socket
    long quiet = 0;                       // cycles without any UART activity
    unsigned long long cycles = 0;
    long long first_in = -1;              // cycle of the first byte in since the last mark
    long long last_out = -1;              // cycle of the last byte out

    for (;;) {
        for (int k = 0; k < batch; k++) {
#ifdef SIMBOARD_BYTES
            top->RX_VALID = !driver.queue.empty();
            if (top->RX_VALID) top->RX_PAYLOAD = driver.queue.front();
            top->clk = 0; top->eval();
            bool taken = top->RX_VALID && top->RX_READY;
            bool given = top->TX_VALID;
            uint8_t byte = top->TX_PAYLOAD;
            top->clk = 1; top->eval();
            if (taken) {
                driver.queue.pop_front();
                if (first_in < 0) first_in = static_cast<long long>(cycles) + k;
            }
            if (given) {
                out.push_back(byte);
                last_out = static_cast<long long>(cycles) + k;
            }
#else
            bool starting = driver.bit < 0 && !driver.queue.empty();
            top->rx = driver.level();
            if (starting && first_in < 0) first_in = static_cast<long long>(cycles) + k;
            top->clk = 0; top->eval();
            top->clk = 1; top->eval();
            int byte = sampler.sample(top->tx);
            if (byte >= 0) {
                out.push_back(static_cast<uint8_t>(byte));
                last_out = static_cast<long long>(cycles) + k;
            }
#endif
        }
        cycles += batch;
        if (mark_requested) {
            mark_requested = 0;
            std::fprintf(stderr, "simboard: mark %llu %lld %lld\n", cycles, first_in, last_out);
            std::fflush(stderr);
            first_in = -1;
        }
        bool active = !driver.idle() || !sampler.idle() || !out.empty();
        quiet = active ? 0 : quiet + batch;
        // Wait for the host only when the top has been silent for a while: a run streams
        // output frames, so it never waits here.
        int wait_ms = (quiet > (1 << 22)) ? 1 : 0;
        pollfd fd{client, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
        if (poll(&fd, 1, wait_ms) < 0 && errno != EINTR) fail("poll");
        if (fd.revents & (POLLERR | POLLHUP | POLLNVAL)) break;
        if ((fd.revents & POLLIN) && driver.queue.size() < sizeof buffer) {
            ssize_t got = recv(client, buffer, sizeof buffer, 0);
            if (got == 0) break;          // the host closed the connection
            if (got < 0 && errno != EAGAIN && errno != EINTR) break;
            for (ssize_t k = 0; k < got; k++) driver.queue.push_back(buffer[k]);
            if (got > 0) quiet = 0;
        }
        if ((fd.revents & POLLOUT) && !out.empty()) {
            ssize_t sent = send(client, out.data(), out.size(), MSG_DONTWAIT);
            if (sent < 0 && errno != EAGAIN && errno != EINTR) break;
            if (sent > 0) out.erase(out.begin(), out.begin() + sent);
        }
    }
    close(client);
    std::fprintf(stderr, "simboard: %llu cycles\n", cycles);
    top->final();
    delete top;
    return 0;
}
