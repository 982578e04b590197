"""Applications on top of the API: the Gradio web page (``web``) and the Gradio-free work behind it
(``service``, ``settings``, ``results``)."""
