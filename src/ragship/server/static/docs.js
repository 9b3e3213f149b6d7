// Starts Swagger UI at /docs: FastAPI's get_swagger_ui_html does this in an inline script, which the
// Content-Security-Policy (script-src 'self') blocks. No validator badge: it would load an image from swagger.io.
// SwaggerUIBundle is vendor/swagger-ui-bundle.js's global (a classic script, run before this module).
const { SwaggerUIBundle } = window;
SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", layout: "BaseLayout", deepLinking: true, showExtensions: true,
  showCommonExtensions: true, validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
