// Stands in for tenant acme's user Worker in a Workers for Platforms namespace.
export default {
  async fetch(request) {
    return Response.json({
      script: "tenant-acme",
      method: request.method,
      url: request.url,
      headers: Object.fromEntries(request.headers),
    });
  },
};
