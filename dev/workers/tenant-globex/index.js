// Stands in for tenant globex's user Worker in a Workers for Platforms namespace.
export default {
  async fetch(request) {
    return Response.json({
      script: "tenant-globex",
      method: request.method,
      url: request.url,
      headers: Object.fromEntries(request.headers),
    });
  },
};
