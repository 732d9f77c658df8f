// Lit, vertex-coloured surface for the demo head (built-in render pipeline). The mesh JSON stores sRGB colours;
// in a linear-colour-space project they are converted so the head looks the same in both spaces.
Shader "VasaBridge/VertexColor"
{
    Properties
    {
        _Glossiness ("Smoothness", Range(0,1)) = 0.35
    }
    SubShader
    {
        Tags { "RenderType"="Opaque" }
        LOD 200
        CGPROGRAM
        #pragma surface surf Standard fullforwardshadows
        #pragma target 3.0
        struct Input { float4 color : COLOR; };
        half _Glossiness;
        void surf (Input IN, inout SurfaceOutputStandard o)
        {
            half3 c = IN.color.rgb;
            #ifndef UNITY_COLORSPACE_GAMMA
            c = GammaToLinearSpace(c);
            #endif
            o.Albedo = c;
            o.Smoothness = _Glossiness;
            o.Alpha = 1;
        }
        ENDCG
    }
    FallBack "Diffuse"
}
