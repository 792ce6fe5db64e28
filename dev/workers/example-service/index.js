// Stands in for a Worker that Portico reaches through a service binding.
//
// Answers JSON describing the request it received. Two query parameters exist for
// tests of Portico's error handling:
//   ?sleep=MS   wait MS milliseconds before answering (timeouts)
//   ?throw=1    throw, so the caller's fetch() rejects (service_binding_failed)
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const sleep = Number(url.searchParams.get("sleep") ?? 0);
    if (sleep > 0) await new Promise((r) => setTimeout(r, Math.min(sleep, 60_000)));
    if (url.searchParams.get("throw")) throw new Error("example-service: asked to throw");

    let bodyBytes = 0;
    if (request.body) {
      const reader = request.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bodyBytes += value.byteLength;
      }
    }
    return Response.json({
      service: "example-service",
      method: request.method,
      url: request.url,
      host: request.headers.get("host"),
      headers: Object.fromEntries(request.headers),
      bodyBytes,
    });
  },
};
